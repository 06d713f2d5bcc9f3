import type { Knex } from 'knex';
import { FENCING_TABLE } from '@kv/distributed-lock';

/** A fiscal period row (a period without a row is open). */
export interface PeriodRecord {
  period: string;
  status: 'open' | 'closed';
  closedAt: Date | null;
  fenceToken: number;
}

/** The period's row, or `undefined` (open, never closed). */
export async function findPeriod(
  trx: Knex.Transaction,
  tenantId: string,
  period: string,
): Promise<PeriodRecord | undefined> {
  const row = (await trx('accounting.fiscal_periods')
    .select('period', 'status', 'closed_at', 'fence_token')
    .where({ tenant_id: tenantId, period })
    .first()) as
    { period: string; status: 'open' | 'closed'; closed_at: Date | null; fence_token: string } | undefined;
  return row
    ? { period: row.period, status: row.status, closedAt: row.closed_at, fenceToken: Number(row.fence_token) }
    : undefined;
}

/** Closed periods of the tenant from `fromPeriod` on (inclusive), ascending. */
export async function closedPeriodsFrom(
  trx: Knex.Transaction,
  tenantId: string,
  fromPeriod: string,
): Promise<string[]> {
  const rows = (await trx('accounting.fiscal_periods')
    .select('period')
    .where({ tenant_id: tenantId, status: 'closed' })
    .andWhere('period', '>=', fromPeriod)
    .orderBy('period')) as { period: string }[];
  return rows.map((r) => r.period);
}

/**
 * Waits until every posting in flight for (tenant, period) has committed or rolled back, and keeps new ones
 * out until this transaction ends: the exclusive side of the advisory lock each posting takes shared.
 */
export async function lockPeriodForClose(
  trx: Knex.Transaction,
  tenantId: string,
  period: string,
): Promise<void> {
  await trx.raw(`SELECT pg_advisory_xact_lock(accounting.period_lock_key(?::uuid, ?))`, [tenantId, period]);
}

/**
 * Closes the period in one statement, only if `token` is still the newest fencing token issued for
 * `lockKey` (read `FOR SHARE`, so no newer token can be issued until this transaction ends) and not older
 * than the token that last wrote the row. Records the transaction's snapshot, taken after
 * {@link lockPeriodForClose} returned.
 * @returns the close time when this call closed it; `undefined` when nothing was written (already closed,
 *   or a stale token).
 */
export async function closePeriodFenced(
  trx: Knex.Transaction,
  input: { tenantId: string; period: string; lockKey: string; token: number; actorId: string | null },
): Promise<Date | undefined> {
  const result = await trx.raw<{ rows: { closed_at: Date }[] }>(
    `WITH fence AS (
       SELECT token FROM accounting.${FENCING_TABLE} WHERE key = ? AND token = ? FOR SHARE
     )
     INSERT INTO accounting.fiscal_periods AS p
            (tenant_id, period, status, fence_token, closed_at, closed_by, closed_snapshot)
     SELECT ?, ?, 'closed', fence.token, date_trunc('milliseconds', clock_timestamp()), ?::uuid, pg_current_snapshot()
       FROM fence
     ON CONFLICT (tenant_id, period) DO UPDATE
        SET status = 'closed', fence_token = EXCLUDED.fence_token, closed_at = EXCLUDED.closed_at,
            closed_by = EXCLUDED.closed_by, closed_snapshot = EXCLUDED.closed_snapshot
      WHERE p.status = 'open' AND p.fence_token <= EXCLUDED.fence_token
     RETURNING closed_at`,
    [input.lockKey, input.token, input.tenantId, input.period, input.actorId],
  );
  return result.rows[0]?.closed_at;
}

/** Newest fencing token issued for a lock key (0 when none). */
export async function newestFenceToken(trx: Knex.Transaction, lockKey: string): Promise<number> {
  const row = (await trx(`accounting.${FENCING_TABLE}`).select('token').where({ key: lockKey }).first()) as
    { token: string } | undefined;
  return row ? Number(row.token) : 0;
}

/** Bounds how long this transaction waits for locks (then PostgreSQL raises 55P03, mapped to 503). */
export async function setLockTimeout(trx: Knex.Transaction, ms: number): Promise<void> {
  await trx.raw(`SELECT set_config('lock_timeout', ?, true)`, [`${Math.max(1, Math.floor(ms))}ms`]);
}
