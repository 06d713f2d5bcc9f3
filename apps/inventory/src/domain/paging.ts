import { decodeCursor, encodeCursor } from '@kv/api-contract';
import { errors } from '@kv/errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a uuid string (cursor fields that reach SQL casts). */
export const isUuid = (v: string): boolean => UUID.test(v);

/** True for an ISO timestamp string. */
export const isTimestamp = (v: string): boolean =>
  /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(v) && !Number.isNaN(Date.parse(v));

/** A page as the contract lists it. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * Decodes a keyset cursor that must carry the given string fields.
 * @throws AppError VALIDATION_ERROR (400) for a cursor this service did not issue.
 */
export function readCursor<K extends string>(
  cursor: string | undefined,
  fields: readonly K[],
  valid: (value: Record<K, string>) => boolean = () => true,
): Record<K, string> | undefined {
  if (cursor === undefined) return undefined;
  const value = decodeCursor(cursor);
  if (!value || fields.some((f) => typeof value[f] !== 'string') || !valid(value as Record<K, string>)) {
    throw errors.validation(
      [{ path: 'cursor', message: 'is not a valid cursor' }],
      'The request query is invalid.',
    );
  }
  return value as Record<K, string>;
}

/** Turns `limit + 1` fetched rows into a page whose cursor is built from the last row shown. */
export function toPage<T>(rows: T[], limit: number, cursorOf: (last: T) => Record<string, string>): Page<T> {
  const more = rows.length > limit;
  const data = more ? rows.slice(0, limit) : rows;
  const last = data[data.length - 1];
  return { data, next_cursor: more && last ? encodeCursor(cursorOf(last)) : null };
}
