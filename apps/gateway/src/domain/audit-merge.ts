import { decodeCursor, encodeCursor, type AuditEventOut } from '@kv/api-contract';
import { errors } from '@kv/errors';

/** The services whose audit trails are merged when no `entity_type` is given. */
export const AUDIT_SOURCES = ['gateway', 'inventory', 'accounting'] as const;
export type AuditSource = (typeof AUDIT_SOURCES)[number];

/** Per source: `null` = start from the newest, `false` = exhausted, string = that source's own cursor. */
export type CompositeCursor = Record<AuditSource, string | null | false>;

const SHORT: Record<AuditSource, string> = { gateway: 'g', inventory: 'i', accounting: 'a' };
const EXHAUSTED = '~';

/** The composite cursor of a merged audit listing. @throws AppError VALIDATION_ERROR when malformed. */
export function decodeComposite(cursor: string | undefined): CompositeCursor {
  const start: CompositeCursor = { gateway: null, inventory: null, accounting: null };
  if (cursor === undefined) return start;
  const raw = decodeCursor(cursor);
  if (!raw || raw.v !== 1)
    throw errors.validation([{ path: 'cursor', message: 'is not a cursor of this listing' }]);
  for (const s of AUDIT_SOURCES) {
    const v = raw[SHORT[s]];
    if (v === undefined || v === '') start[s] = null;
    else if (v === EXHAUSTED) start[s] = false;
    else if (typeof v === 'string') start[s] = v;
    else throw errors.validation([{ path: 'cursor', message: 'is not a cursor of this listing' }]);
  }
  return start;
}

/** Opaque text of a composite cursor. */
export function encodeComposite(c: CompositeCursor): string {
  const out: Record<string, string | number> = { v: 1 };
  for (const s of AUDIT_SOURCES) out[SHORT[s]] = c[s] === false ? EXHAUSTED : (c[s] ?? '');
  return encodeCursor(out);
}

/** Newest first: `at` descending, then `id` descending (the order every service pages in). */
export function compareAudit(a: AuditEventOut, b: AuditEventOut): number {
  if (a.at !== b.at) return a.at < b.at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** One source's page, fetched from its cursor with the same `limit`. */
export interface SourcePage {
  data: AuditEventOut[];
  next_cursor: string | null;
}

/**
 * Merges one page per source into one page of `limit`, newest first, and the cursor to continue from.
 * Each source's new position is just after the last of its events that made it into the page, written in the
 * services' own keyset format (`{at, id}`, as `@kv/audit` pages), or unchanged when none did.
 */
export function mergeAuditPages(
  cursor: CompositeCursor,
  pages: Partial<Record<AuditSource, SourcePage>>,
  limit: number,
): { data: AuditEventOut[]; next_cursor: string | null } {
  const tagged: { source: AuditSource; event: AuditEventOut }[] = [];
  for (const s of AUDIT_SOURCES) for (const event of pages[s]?.data ?? []) tagged.push({ source: s, event });
  tagged.sort((x, y) => compareAudit(x.event, y.event));
  const taken = tagged.slice(0, limit);
  const next: CompositeCursor = { ...cursor };
  for (const s of AUDIT_SOURCES) {
    const page = pages[s];
    if (!page) continue;
    const mine = taken.filter((t) => t.source === s);
    const last = mine[mine.length - 1];
    if (mine.length === page.data.length) next[s] = page.next_cursor ?? false;
    else if (last) next[s] = encodeCursor({ at: last.event.at, id: last.event.id });
  }
  const done = AUDIT_SOURCES.every((s) => next[s] === false);
  return { data: taken.map((t) => t.event), next_cursor: done ? null : encodeComposite(next) };
}
