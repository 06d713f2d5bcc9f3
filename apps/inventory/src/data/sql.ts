import type { Knex } from 'knex';

/** A transaction or a pool: anything that can run SQL. */
export type Db = Knex | Knex.Transaction;

/** Runs a raw statement and returns its rows. */
export async function query<R>(db: Db, sql: string, bindings: readonly Knex.RawBinding[] = []): Promise<R[]> {
  const result = await db.raw<{ rows: R[] }>(sql, bindings as Knex.RawBinding[]);
  return result.rows;
}

/** Runs a raw statement and returns how many rows it touched. */
export async function execute(
  db: Db,
  sql: string,
  bindings: readonly Knex.RawBinding[] = [],
): Promise<number> {
  const result = await db.raw<{ rowCount: number | null }>(sql, bindings as Knex.RawBinding[]);
  return result.rowCount ?? 0;
}

/** bigint columns arrive as strings; every value here is far below 2^53. */
export const num = (v: string | number | null | undefined): number =>
  v === null || v === undefined ? 0 : Number(v);

/** ISO 8601 UTC of a timestamptz column. */
export const iso = (v: Date | string): string => (v instanceof Date ? v : new Date(v)).toISOString();
