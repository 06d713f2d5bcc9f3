import { errors } from '@kv/errors';
import type { Knex } from 'knex';
import { StaleLeaseError } from './errors';

/** Name of the token counter table inside the schema given to {@link createFencingTable}. */
export const FENCING_TABLE = 'lock_fencing';

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/i;

/** @internal */
export function checkIdentifier(value: unknown, what: string): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > 63) {
    throw new TypeError(`${what} must be a plain SQL identifier ([a-z_][a-z0-9_]*, at most 63 chars)`);
  }
  return value;
}

/** Options of {@link createFencingTable}. */
export interface CreateFencingTableOptions {
  /**
   * Role(s) that take fencing tokens (the app's request role, e.g. `kv_app`, and any other role whose
   * knex is handed to `createLockManager`). Each gets `USAGE` on the schema and `SELECT, INSERT, UPDATE`
   * on the table. Default: none.
   */
  grantTo?: string | readonly string[];
}

/**
 * Migration helper: creates `<schema>.lock_fencing(key text primary key, token bigint not null)`, the
 * per-key fencing token counter (in PostgreSQL so tokens never go back when Redis restarts). Call it from
 * the owning app's own knex migration, as the schema owner; idempotent (safe to re-run). The schema must
 * exist.
 *
 * Row-level security is deliberately not enabled: the table holds no tenant data, only counters keyed by
 * lock key (the key contains the tenant id, so a role granted here can see which tenants took which locks,
 * never any business data). Grant it only to roles that take locks.
 *
 * @param knex owner connection or the migration's transaction.
 * @param schema the app's schema, e.g. `accounting`.
 * @throws TypeError when `schema` or a role is not a plain SQL identifier.
 */
export async function createFencingTable(
  knex: Knex,
  schema: string,
  options: CreateFencingTableOptions = {},
): Promise<void> {
  checkIdentifier(schema, 'schema');
  const roles =
    options.grantTo === undefined
      ? []
      : typeof options.grantTo === 'string'
        ? [options.grantTo]
        : [...options.grantTo];
  roles.forEach((r) => checkIdentifier(r, 'grantTo role'));
  await knex.raw(
    `CREATE TABLE IF NOT EXISTS ??.?? (key text PRIMARY KEY, token bigint NOT NULL CHECK (token > 0))`,
    [schema, FENCING_TABLE],
  );
  for (const role of roles) {
    await knex.raw('GRANT USAGE ON SCHEMA ?? TO ??', [schema, role]);
    await knex.raw('GRANT SELECT, INSERT, UPDATE ON ??.?? TO ??', [schema, FENCING_TABLE, role]);
  }
}

function toToken(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new RangeError(`fencing token out of range: ${String(value)}`);
  return n;
}

/**
 * Takes the next fencing token for `key`: one auto-committed statement (its own short transaction, never the
 * caller's), so the increment is durable before the token is used.
 * @internal
 */
export async function nextFencingToken(knex: Knex, schema: string, key: string): Promise<number> {
  const result = await knex.raw<{ rows: { token: string | number }[] }>(
    `INSERT INTO ??.?? AS f (key, token) VALUES (?, 1)
     ON CONFLICT (key) DO UPDATE SET token = f.token + 1
     RETURNING token`,
    [schema, FENCING_TABLE, key],
  );
  const row = result.rows[0];
  if (!row) throw new Error('fencing token insert returned no row');
  return toToken(row.token);
}

/** Options of {@link fencedUpdate} and {@link assertFenced}. */
export interface FencedUpdateOptions {
  /** Column of the protected row holding the newest token that wrote it (`bigint NOT NULL DEFAULT 0`). Default `fence_token`. */
  column?: string;
}

/**
 * Writes protected row(s) only if the caller's fencing token is at least as new as the newest token that
 * wrote them, in ONE statement:
 * `UPDATE <table> SET <values>, fence_token = :token WHERE <where> AND fence_token <= :token`.
 *
 * `<=` (not `<`) so one holder can write the same row several times with its token, while every holder
 * superseded by a newer one (its token is strictly smaller) is refused. The row lock the UPDATE takes makes
 * a concurrent older writer wait and then re-check the condition, so it cannot slip in after a newer one.
 *
 * @param db a knex or transaction (use the tenant transaction when the table has RLS).
 * @param table table name, optionally schema-qualified (`accounting.periods`).
 * @param where equality conditions selecting the protected row(s).
 * @param values columns to set (may be empty: then only the token is recorded, see {@link assertFenced}).
 * @param token the lease's fencing token.
 * @returns the number of rows written (at least 1).
 * @throws StaleLeaseError when the row exists but was written with a newer token (nothing was written).
 * @throws AppError `NOT_FOUND` when no row matches `where`.
 */
export async function fencedUpdate(
  db: Knex | Knex.Transaction,
  table: string,
  where: Readonly<Record<string, unknown>>,
  values: Readonly<Record<string, unknown>>,
  token: number,
  options: FencedUpdateOptions = {},
): Promise<number> {
  const column = checkIdentifier(options.column ?? 'fence_token', 'fence column');
  toToken(token);
  if (Object.keys(where).length === 0) throw new TypeError('fencedUpdate needs a non-empty where');
  const written = await db(table)
    .where(where)
    .andWhere(column, '<=', token)
    .update({ ...values, [column]: token });
  if (written > 0) return written;
  const current = (await db(table).where(where).max({ newest: column }).first()) as
    { newest: string | number | null } | undefined;
  if (current?.newest === null || current?.newest === undefined) throw errors.notFound('fenced row');
  throw new StaleLeaseError(token, Number(current.newest));
}

/**
 * Records `token` on the protected row(s) inside the caller's transaction and refuses a stale lease:
 * `UPDATE <table> SET fence_token = :token WHERE <where> AND fence_token <= :token`. Call it first in a
 * transaction, then do any other writes in that transaction: the row stays locked until commit, so no
 * older holder can write it meanwhile and no newer holder's write is overwritten.
 *
 * @throws StaleLeaseError when a newer token already wrote the row (roll the transaction back).
 * @throws AppError `NOT_FOUND` when no row matches `where`.
 */
export async function assertFenced(
  trx: Knex.Transaction | Knex,
  table: string,
  where: Readonly<Record<string, unknown>>,
  token: number,
  options: FencedUpdateOptions = {},
): Promise<void> {
  await fencedUpdate(trx, table, where, {}, token, options);
}
