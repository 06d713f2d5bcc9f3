import type { Knex } from 'knex';

/** One event written by a service in the same transaction as the change it announces. */
export interface OutboxEvent {
  /** Event id; becomes the queue job id, and consumers de-duplicate by it. Default: a new UUID. */
  id?: string;
  tenantId: string;
  /** e.g. `inventory.stock_movement`. */
  topic: string;
  payload: Record<string, unknown>;
}

export interface OutboxRow {
  id: string;
  tenant_id: string;
  topic: string;
  payload: Record<string, unknown>;
  created_at: Date;
  attempts: number;
}

export interface OutboxTableOptions {
  /** Role that serves requests: INSERT (and SELECT for RETURNING). */
  appRole: string;
  /** Relay role (BYPASSRLS): SELECT, UPDATE across tenants. */
  systemRole: string;
  /** ENABLE+FORCE row-level security; pass `enableTenantRls` from @kv/tenant-context. */
  enableRls: (knex: Knex, table: string) => Promise<void>;
}

/** Migration helper: `<schema>.outbox` with tenant-leading key, RLS, and an index for pending rows. */
export async function createOutboxTable(
  knex: Knex,
  schema: string,
  options: OutboxTableOptions,
): Promise<void> {
  const table = `${schema}.outbox`;
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${table} (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      topic text NOT NULL,
      payload jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
      attempts integer NOT NULL DEFAULT 0,
      last_enqueued_at timestamptz,
      done_at timestamptz,
      PRIMARY KEY (tenant_id, id),
      UNIQUE (id)
    )`);
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS outbox_pending ON ${table} (created_at) WHERE status = 'pending'`,
  );
  await knex.raw(`CREATE INDEX IF NOT EXISTS outbox_done_at ON ${table} (done_at) WHERE status = 'done'`);
  await options.enableRls(knex, table);
  await knex.raw(`GRANT SELECT, INSERT ON ${table} TO ${options.appRole}`);
  await knex.raw(`GRANT SELECT, UPDATE, DELETE ON ${table} TO ${options.systemRole}`);
}

/** Writes events in the caller's transaction; they become visible to the relay only if it commits. */
export async function writeOutbox(
  trx: Knex.Transaction,
  schema: string,
  events: OutboxEvent[],
): Promise<string[]> {
  if (events.length === 0) return [];
  const rows = await trx(`${schema}.outbox`)
    .insert(
      events.map((e) => ({
        ...(e.id ? { id: e.id } : {}),
        tenant_id: e.tenantId,
        topic: e.topic,
        payload: JSON.stringify(e.payload),
      })),
    )
    .returning('id');
  return (rows as { id: string }[]).map((r) => r.id);
}

export interface ClaimOptions {
  /** Most rows to claim; default 500. */
  limit?: number;
  /** A row enqueued longer ago than this and still pending is claimed again (its job was lost); default 30 s. */
  redeliverAfterMs?: number;
}

/**
 * Relay side (system role): claims committed pending rows that were never enqueued, or whose last enqueue is
 * older than `redeliverAfterMs`, stamping `last_enqueued_at`. `SKIP LOCKED` lets several relays run at once
 * without handing out the same row twice in one round. Rows stay `pending` until {@link markDone}.
 */
export async function claimPending(
  systemKnex: Knex,
  schema: string,
  options: ClaimOptions = {},
): Promise<OutboxRow[]> {
  const result = await systemKnex.raw<{ rows: OutboxRow[] }>(
    `UPDATE ${schema}.outbox o SET last_enqueued_at = now(), attempts = o.attempts + 1
       FROM (SELECT tenant_id, id FROM ${schema}.outbox
              WHERE status = 'pending'
                AND (last_enqueued_at IS NULL OR last_enqueued_at < now() - make_interval(secs => ?))
              ORDER BY created_at
              LIMIT ?
              FOR UPDATE SKIP LOCKED) c
      WHERE o.tenant_id = c.tenant_id AND o.id = c.id
      RETURNING o.id, o.tenant_id, o.topic, o.payload, o.created_at, o.attempts`,
    [(options.redeliverAfterMs ?? 30_000) / 1000, options.limit ?? 500],
  );
  return result.rows;
}

/** Marks events done once their effect is confirmed. Returns how many changed. */
export async function markDone(systemKnex: Knex, schema: string, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await systemKnex.raw<{ rowCount: number }>(
    `UPDATE ${schema}.outbox SET status = 'done', done_at = now() WHERE id = ANY(?::uuid[]) AND status = 'pending'`,
    [ids],
  );
  return result.rowCount;
}

export interface OutboxStats {
  pending: number;
  /** Age in seconds of the oldest pending row; 0 when none. */
  oldestPendingAgeS: number;
}

/** Pending count and oldest pending age (system role), for metrics and readiness. */
export async function outboxStats(systemKnex: Knex, schema: string): Promise<OutboxStats> {
  const { rows } = await systemKnex.raw<{ rows: { pending: number; age: number }[] }>(
    `SELECT count(*)::int AS pending, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float AS age
       FROM ${schema}.outbox WHERE status = 'pending'`,
  );
  return { pending: rows[0]?.pending ?? 0, oldestPendingAgeS: rows[0]?.age ?? 0 };
}

/** Deletes done rows older than `olderThanHours` (default 72), in batches. Returns how many. */
export async function purgeDone(
  systemKnex: Knex,
  schema: string,
  olderThanHours = 72,
  batch = 5000,
): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await systemKnex.raw<{ rowCount: number }>(
      `DELETE FROM ${schema}.outbox WHERE ctid IN (SELECT ctid FROM ${schema}.outbox
        WHERE status = 'done' AND done_at < now() - make_interval(hours => ?) LIMIT ?)`,
      [olderThanHours, batch],
    );
    total += r.rowCount;
    if (r.rowCount < batch) return total;
  }
}
