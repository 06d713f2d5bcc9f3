import { z } from 'zod';

/** Largest absolute value of any integer in the API (quantities, money, limits). */
export const MAX_INT = 1_000_000_000_000;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Length in Unicode code points (what the contract counts). */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** A UUID string (any version). */
export const uuid = () => z.string().regex(UUID_RE, 'must be a UUID');

/**
 * A string of 1..max code points (min 0 when `allowEmpty`) without NUL or lone surrogates.
 * Defaults: 200 (`memo`/`reason`: 1000; `sku`/`code`: 64).
 */
export const text = (max = 200, opts: { allowEmpty?: boolean } = {}) =>
  z
    .string()
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
    .refine((s) => !LONE_SURROGATE.test(s), 'must be valid Unicode (no lone surrogates)')
    .refine((s) => codePointLength(s) >= (opts.allowEmpty ? 0 : 1), 'must not be empty')
    .refine((s) => codePointLength(s) <= max, `must be at most ${max} characters`);

/** An integer with |x| <= 10^12 (JSON number only: "5" is rejected). */
export const int = () => z.number().int().min(-MAX_INT).max(MAX_INT);
/** Integer > 0 and <= 10^12 (quantities). */
export const positiveInt = () => z.number().int().min(1).max(MAX_INT);
/** Integer >= 0 and <= 10^12 (money, costs). */
export const nonNegativeInt = () => z.number().int().min(0).max(MAX_INT);
/** Integer with 0 < |x| <= 10^12 (signed deltas such as an adjustment's `quantity_delta`). */
export const nonZeroInt = () => int().refine((v) => v !== 0, 'must not be zero');

function isCalendarDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dt = new Date(Date.UTC(y, mo - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === mo - 1 && dt.getUTCDate() === d;
}

/** A calendar date `YYYY-MM-DD`. */
export const date = () => z.string().refine(isCalendarDate, 'must be a date YYYY-MM-DD');
/** A month `YYYY-MM` (01..12). */
export const period = () => z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a period YYYY-MM');
/** ISO 8601 UTC timestamp as sent in responses. */
export const timestamp = () => z.string();

/** `?limit=` 1..200 (default 50) and `?cursor=` (opaque). Query values arrive as strings. */
export const listQuery = z.object({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be an integer 1..200')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(200, 'must be at most 200'))
    .optional()
    .transform((v) => v ?? 50),
  cursor: z.string().max(500).optional(),
});
export type ListQuery = z.infer<typeof listQuery>;

/** A uuid query filter: malformed values are a 400. */
export const uuidQuery = () => uuid().optional();

/** `{data: [...], next_cursor}` list envelope. */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });

/** Path `:id`. */
export const idParams = z.object({ id: uuid() });

/** RFC 9457 problem body. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    request_id: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });

/** `Idempotency-Key` header value: 1..255 chars. */
export const idempotencyKey = z.string().min(1).max(255);

/** Opaque keyset cursor helpers: base64url JSON. */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
export function decodeCursor(cursor: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
