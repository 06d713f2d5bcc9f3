import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { AppError } from '@kv/errors';

/** What a handler returns and what a replay gives back. */
export interface StoredResponse {
  status: number;
  body: unknown;
}

export interface IdempotentResult extends StoredResponse {
  /** True when this is a stored response from an earlier request with the same key. */
  replayed: boolean;
}

export interface IdempotencyRequest {
  /** The `Idempotency-Key` header, already validated with {@link parseIdempotencyKey}; undefined = none. */
  key: string | undefined;
  tenantId: string;
  method: string;
  /** The concrete request path (keys are scoped to tenant + method + path). */
  path: string;
  /** The parsed JSON body; compared as parsed JSON (key order does not matter). */
  body: unknown;
}

export interface IdempotencyOptions {
  /** Qualified table name, e.g. `inventory.idempotency_keys`. */
  table: string;
  /** How long a duplicate waits for the first request to finish before 409 `idempotency-key-in-progress`; default 10 s. */
  waitMs?: number;
}

/**
 * Validates an `Idempotency-Key` header value: absent is fine; otherwise 1..255 characters.
 * @throws AppError VALIDATION_ERROR
 */
export function parseIdempotencyKey(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length < 1 || value.length > 255) {
    throw new AppError('VALIDATION_ERROR', 'Idempotency-Key must be 1..255 characters.', {
      errors: [{ path: 'Idempotency-Key', message: 'must be 1..255 characters' }],
    });
  }
  return value;
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` hash alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    return `{${keys
      .filter((k) => obj[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** sha256 of the canonical JSON of a request body. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

const LOCK_NOT_AVAILABLE = '55P03';

interface KeyRow {
  request_hash: string;
  status_code: number | null;
  response: unknown;
}

/**
 * Runs `fn` exactly once per idempotency key, inside the caller's tenant transaction `trx`.
 *
 * The key row is inserted first; a concurrent duplicate blocks on it (PostgreSQL's unique index) until the
 * first transaction ends: if it committed, the duplicate replays the stored response; if it rolled back (a 4xx,
 * a crash), the duplicate runs anew. The response is stored before commit, so the effect and its response are
 * durable together or not at all. Without a key, `fn` simply runs.
 *
 * Call it first in the transaction, before other locks are taken.
 * @throws AppError IDEMPOTENCY_KEY_REUSED (422) when the key was used with a different body;
 *   IDEMPOTENCY_KEY_IN_PROGRESS (409) when the first request is still running after `waitMs`.
 */
export async function withIdempotency(
  trx: Knex.Transaction,
  request: IdempotencyRequest,
  options: IdempotencyOptions,
  fn: () => Promise<StoredResponse>,
): Promise<IdempotentResult> {
  if (request.key === undefined) return { ...(await fn()), replayed: false };
  const hash = requestHash(request.body);
  const where = { tenant_id: request.tenantId, method: request.method, path: request.path, key: request.key };
  await trx.raw(`SELECT set_config('lock_timeout', ?, true)`, [`${options.waitMs ?? 10_000}ms`]);
  let inserted: unknown[];
  try {
    inserted = await trx(options.table)
      .insert({ ...where, request_hash: hash })
      .onConflict(['tenant_id', 'method', 'path', 'key'])
      .ignore()
      .returning('key');
  } catch (err) {
    if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) {
      throw new AppError(
        'IDEMPOTENCY_KEY_IN_PROGRESS',
        'A request with this Idempotency-Key is still being processed.',
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  await trx.raw(`SELECT set_config('lock_timeout', '0', true)`);
  if (inserted.length === 0) {
    const row = (await trx(options.table).where(where).first()) as KeyRow | undefined;
    if (!row || row.status_code === null) {
      throw new AppError(
        'IDEMPOTENCY_KEY_IN_PROGRESS',
        'A request with this Idempotency-Key is still being processed.',
      );
    }
    if (row.request_hash !== hash) {
      throw new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was used with a different request body.',
      );
    }
    return { status: row.status_code, body: row.response, replayed: true };
  }
  const result = await fn();
  await trx(options.table)
    .where(where)
    .update({ status_code: result.status, response: JSON.stringify(result.body ?? null) });
  return { ...result, replayed: false };
}

export interface IdempotencyTableOptions {
  /** Role that serves requests (gets SELECT/INSERT/UPDATE). */
  appRole: string;
  /** Role that purges expired keys across tenants (gets SELECT/DELETE). */
  systemRole?: string;
  /** Adds ENABLE+FORCE row-level security; pass `enableTenantRls` from @kv/tenant-context. */
  enableRls: (knex: Knex, table: string) => Promise<void>;
}

/** Migration helper: creates `<schema>.idempotency_keys` with tenant-leading keys and row-level security. */
export async function createIdempotencyTable(
  knex: Knex,
  schema: string,
  options: IdempotencyTableOptions,
): Promise<void> {
  const table = `${schema}.idempotency_keys`;
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${table} (
      tenant_id uuid NOT NULL,
      method text NOT NULL,
      path text NOT NULL,
      key text NOT NULL,
      request_hash text NOT NULL,
      status_code integer,
      response jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, method, path, key)
    )`);
  await knex.raw(`CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON ${table} (created_at)`);
  await options.enableRls(knex, table);
  await knex.raw(`GRANT SELECT, INSERT, UPDATE ON ${table} TO ${options.appRole}`);
  if (options.systemRole) await knex.raw(`GRANT SELECT, DELETE ON ${table} TO ${options.systemRole}`);
}

/**
 * Deletes keys older than `olderThanHours` (default 48; the contract keeps them at least 24 h), in batches,
 * across tenants; run it with the system role. Returns how many rows were removed.
 */
export async function purgeExpiredKeys(
  systemKnex: Knex,
  schema: string,
  olderThanHours = 48,
  batch = 5000,
): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await systemKnex.raw<{ rowCount: number }>(
      `DELETE FROM ${schema}.idempotency_keys WHERE ctid IN (
         SELECT ctid FROM ${schema}.idempotency_keys WHERE created_at < now() - make_interval(hours => ?) LIMIT ?)`,
      [olderThanHours, batch],
    );
    const n = result.rowCount;
    total += n;
    if (n < batch) return total;
  }
}
