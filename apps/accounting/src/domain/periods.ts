import type { Knex } from 'knex';
import { errors } from '@kv/errors';
import { writeAudit } from '@kv/audit';
import { lockKey, StaleLeaseError, type LockManager } from '@kv/distributed-lock';
import type { IdempotentResult } from '@kv/idempotency';
import type { TenantContext } from '@kv/tenant-context';
import {
  closePeriodFenced,
  findPeriod,
  lockPeriodForClose,
  newestFenceToken,
  setLockTimeout,
} from '../data/periods';
import type { CommandRequest, UnitOfWork } from '../data/unit-of-work';

/** The close answer. */
export interface PeriodClosed {
  period: string;
  status: 'closed';
  closed_at: string;
}

/** Settings of period closing. */
export interface PeriodCloseSettings {
  /** Lease TTL of the close lock, in ms (renewed while the close runs). */
  lockTtlMs: number;
  /** How long a close waits for another close of the same period, in ms. */
  lockWaitMs: number;
  /** How long the close waits for in-flight postings of the period, in ms (then 503). */
  postingDrainTimeoutMs: number;
}

/** The lock key of a period close: tenant-scoped (`lock:{tenant}:period-close:2026-01`). */
export function periodLockKey(tenantId: string, period: string): string {
  return lockKey(tenantId, 'period-close', period);
}

/**
 * The close itself, in `trx`, with a lease's fencing token. Waits for the period's in-flight postings (the
 * database lock every posting takes shared), then closes it only if `token` is still the newest token for the
 * period's lock. Closing a closed period changes nothing and answers the same.
 * @throws StaleLeaseError (409) when a newer lock holder exists (this closer paused past its lease); nothing is written.
 */
export async function closePeriodWithToken(
  trx: Knex.Transaction,
  ctx: Pick<TenantContext, 'tenantId' | 'userId' | 'requestId'>,
  period: string,
  token: number,
  settings: Pick<PeriodCloseSettings, 'postingDrainTimeoutMs'>,
): Promise<PeriodClosed> {
  const before = await findPeriod(trx, ctx.tenantId, period);
  if (before?.status === 'closed' && before.closedAt)
    return { period, status: 'closed', closed_at: before.closedAt.toISOString() };
  const key = periodLockKey(ctx.tenantId, period);
  await setLockTimeout(trx, settings.postingDrainTimeoutMs);
  await lockPeriodForClose(trx, ctx.tenantId, period);
  const closedAt = await closePeriodFenced(trx, {
    tenantId: ctx.tenantId,
    period,
    lockKey: key,
    token,
    actorId: ctx.userId,
  });
  if (!closedAt) {
    const now = await findPeriod(trx, ctx.tenantId, period);
    if (now?.status === 'closed' && now.closedAt)
      return { period, status: 'closed', closed_at: now.closedAt.toISOString() };
    throw new StaleLeaseError(token, await newestFenceToken(trx, key));
  }
  await writeAudit(trx, 'accounting', [
    {
      tenantId: ctx.tenantId,
      actorId: ctx.userId,
      action: 'period.close',
      entityType: 'period',
      entityId: period,
      requestId: ctx.requestId || null,
      changes: { status: { before: 'open', after: 'closed' }, fence_token: token },
    },
  ]);
  return { period, status: 'closed', closed_at: closedAt.toISOString() };
}

/**
 * Closes a period (`YYYY-MM`) under the tenant + period distributed lock; the database decides with the
 * lease's fencing token and its own period lock, so neither an expired lease nor a racing posting can leave an
 * entry in a closed period.
 * @throws AppError UNAVAILABLE when Redis is down (at once when it is known to be down); CONFLICT when another
 *   close kept the lock for `lockWaitMs`
 *   or this lease was superseded.
 */
export async function closePeriod(
  deps: { locks: LockManager; uow: UnitOfWork; settings: PeriodCloseSettings; locksReachable: () => boolean },
  ctx: TenantContext,
  period: string,
  request: CommandRequest,
): Promise<IdempotentResult> {
  const { settings } = deps;
  // Fail fast while the lock service is known to be down, instead of retrying for the whole lock wait.
  if (!deps.locksReachable()) throw errors.unavailable('The lock service is unavailable; retry later.');
  return deps.locks.withLock(
    periodLockKey(ctx.tenantId, period),
    { ttlMs: settings.lockTtlMs, waitMs: settings.lockWaitMs },
    (lease) =>
      deps.uow.command(ctx, request, (trx) => closePeriodWithToken(trx, ctx, period, lease.token, settings)),
  );
}
