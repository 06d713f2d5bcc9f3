import type { Knex } from 'knex';
import { AUDIT_ENTITY_TYPES, decodeCursor, encodeCursor } from '@kv/api-contract';

/** The contract's audited entity types (defined once, in @kv/api-contract). */
export { AUDIT_ENTITY_TYPES };
export type AuditEntityType = (typeof AUDIT_ENTITY_TYPES)[number];

export interface AuditInput {
  tenantId: string;
  /** `null` for system actions. */
  actorId: string | null;
  /** e.g. `reservation.commit`. */
  action: string;
  entityType: AuditEntityType;
  /** The entity's id: a UUID, or a natural key such as a period `2026-01`. */
  entityId: string;
  requestId: string | null;
  /** What changed (new values, or `{before, after}`); never secrets. */
  changes: Record<string, unknown>;
}

/** The contract's audit event shape. */
export interface AuditEvent {
  id: string;
  actor_id: string | null;
  action: string;
  entity_type: string;
  entity_id: string;
  request_id: string | null;
  at: string;
  changes: Record<string, unknown>;
}

export interface AuditTableOptions {
  appRole: string;
  enableRls: (knex: Knex, table: string) => Promise<void>;
}

/**
 * Migration helper: `<schema>.audit_events` (timestamps at millisecond precision so ISO cursors are exact),, append-only (the app role gets INSERT and SELECT only, and a
 * trigger refuses UPDATE/DELETE from anyone).
 */
export async function createAuditTable(
  knex: Knex,
  schema: string,
  options: AuditTableOptions,
): Promise<void> {
  const table = `${schema}.audit_events`;
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${table} (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      actor_id uuid,
      action text NOT NULL,
      entity_type text NOT NULL,
      entity_id text NOT NULL,
      request_id text,
      at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
      changes jsonb NOT NULL DEFAULT '{}',
      PRIMARY KEY (tenant_id, id)
    )`);
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS audit_events_entity ON ${table} (tenant_id, entity_type, entity_id, at DESC, id DESC)`,
  );
  await knex.raw(`CREATE INDEX IF NOT EXISTS audit_events_at ON ${table} (tenant_id, at DESC, id DESC)`);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION ${schema}.audit_events_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$`);
  await knex.raw(`DROP TRIGGER IF EXISTS audit_events_immutable ON ${table}`);
  await knex.raw(
    `CREATE TRIGGER audit_events_immutable BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${schema}.audit_events_immutable()`,
  );
  await options.enableRls(knex, table);
  await knex.raw(`GRANT SELECT, INSERT ON ${table} TO ${options.appRole}`);
}

/** Records audit events in the caller's transaction (so they commit or vanish with the change). */
export async function writeAudit(trx: Knex.Transaction, schema: string, events: AuditInput[]): Promise<void> {
  if (events.length === 0) return;
  await trx(`${schema}.audit_events`).insert(
    events.map((e) => ({
      tenant_id: e.tenantId,
      actor_id: e.actorId,
      action: e.action,
      entity_type: e.entityType,
      entity_id: e.entityId,
      request_id: e.requestId,
      changes: JSON.stringify(e.changes),
    })),
  );
}

export interface AuditQuery {
  entityType?: string;
  entityId?: string;
  limit: number;
  cursor?: string;
}

interface AuditRow {
  id: string;
  actor_id: string | null;
  action: string;
  entity_type: string;
  entity_id: string;
  request_id: string | null;
  at: Date;
  changes: Record<string, unknown>;
}

/**
 * Lists audit events newest first with keyset pagination (`at`, `id`); run inside a tenant transaction.
 * An undecodable cursor is treated as absent (first page).
 */
export async function listAudit(
  trx: Knex.Transaction,
  schema: string,
  query: AuditQuery,
): Promise<{ data: AuditEvent[]; next_cursor: string | null }> {
  const q = trx<AuditRow>(`${schema}.audit_events`)
    .select('id', 'actor_id', 'action', 'entity_type', 'entity_id', 'request_id', 'at', 'changes')
    .orderBy([
      { column: 'at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(query.limit + 1);
  if (query.entityType) void q.where('entity_type', query.entityType);
  if (query.entityId) void q.where('entity_id', query.entityId);
  const c = query.cursor ? decodeCursor(query.cursor) : undefined;
  if (c && typeof c.at === 'string' && typeof c.id === 'string') {
    void q.whereRaw('(at, id) < (?::timestamptz, ?::uuid)', [c.at, c.id]);
  }
  const rows = (await q) as AuditRow[];
  const more = rows.length > query.limit;
  const data = rows.slice(0, query.limit).map((r) => ({
    id: r.id,
    actor_id: r.actor_id,
    action: r.action,
    entity_type: r.entity_type,
    entity_id: r.entity_id,
    request_id: r.request_id,
    at: r.at.toISOString(),
    changes: r.changes,
  }));
  const last = data[data.length - 1];
  return { data, next_cursor: more && last ? encodeCursor({ at: last.at, id: last.id }) : null };
}
