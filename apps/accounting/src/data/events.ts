import type { Knex } from 'knex';

/** A consumed event (consumer de-duplication). */
export interface ProcessedEvent {
  eventId: string;
  entryId: string | null;
}

/**
 * Records that `eventId` is being applied, in the caller's transaction. Returns `true` when this call
 * recorded it; `false` when it was already recorded (a concurrent duplicate waits here until the first
 * transaction ends: it then sees the committed row, or records it itself if the first rolled back).
 */
export async function recordEvent(
  trx: Knex.Transaction,
  input: { tenantId: string; eventId: string; topic: string; entryId: string | null },
): Promise<boolean> {
  const rows = (await trx('accounting.processed_events')
    .insert({
      tenant_id: input.tenantId,
      event_id: input.eventId,
      topic: input.topic,
      entry_id: input.entryId,
    })
    .onConflict(['tenant_id', 'event_id'])
    .ignore()
    .returning('event_id')) as unknown[];
  return rows.length > 0;
}

/** The recorded event, or `undefined`. */
export async function findEvent(
  trx: Knex.Transaction,
  tenantId: string,
  eventId: string,
): Promise<ProcessedEvent | undefined> {
  const row = (await trx('accounting.processed_events')
    .select('event_id', 'entry_id')
    .where({ tenant_id: tenantId, event_id: eventId })
    .first()) as { event_id: string; entry_id: string | null } | undefined;
  return row ? { eventId: row.event_id, entryId: row.entry_id } : undefined;
}
