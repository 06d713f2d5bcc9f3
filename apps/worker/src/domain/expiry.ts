import type { Redis } from 'ioredis';
import { withRequestFields } from '@kv/http';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';
import { lockKey, LockNotAcquiredError, type LockManager } from '@kv/distributed-lock';
import { runWithContext } from '@kv/tenant-context';
import { SYSTEM_TENANT_ID } from '../data/schema';
import type { ServiceClient } from './service-client';
import { sleep } from './timing';
import type { WorkerMetrics } from './worker-metrics';

/** The expiry singleton's lock key: `lock:{00000000-…}:worker:expiry` (system-wide work, system tenant). */
export const EXPIRY_LOCK_KEY = lockKey(SYSTEM_TENANT_ID, 'worker', 'expiry');

/** Options of {@link createExpiry}. */
export interface ExpiryOptions {
  locks: LockManager;
  /** The client the lock manager uses: no attempt is made while it is not connected. */
  redis: Pick<Redis, 'status'>;
  inventory: ServiceClient;
  metrics: WorkerMetrics;
  logger: Logger;
  workerId: string;
  /** Pause between two sweeps of the leader, in ms. */
  intervalMs: number;
  /** Leader lease TTL in ms (renewed every half); a dead leader is replaced within about this long. */
  lockTtlMs: number;
}

/** The reservation expiry singleton. */
export interface Expiry {
  start(): void;
  /** Stops sweeping and releases the lease so another replica takes over at once. */
  stop(): Promise<void>;
  isLeader(): boolean;
}

/**
 * Calls inventory `POST /internal/reservations/expire-due` about every `intervalMs`, on one replica at a time.
 *
 * Leadership is a `@kv/distributed-lock` lease on {@link EXPIRY_LOCK_KEY}, held with `withLock` (renewed
 * every `ttl/2`) for as long as the replica lives; the others try to take it every `min(interval, ttl/3)`.
 * A crashed leader's lease runs out after `lockTtlMs`, so sweeps pause for at most about `ttl + interval`
 * (4 s with the defaults), within the contract's 5 s, and reads treat overdue reservations as expired
 * meanwhile anyway. A leader that loses its lease (its `signal` aborts) stops sweeping at once.
 *
 * The lock only avoids redundant work: correctness does not depend on it. Inventory releases each reservation
 * with a conditional update (`WHERE status = 'active'`), so two overlapping sweeps (a paused leader that has
 * not yet noticed its lost lease) still expire each reservation exactly once; the fencing token is therefore
 * not needed by the protected write.
 */
export function createExpiry(o: ExpiryOptions): Expiry {
  const stopController = new AbortController();
  let leader = false;
  let loop: Promise<void> | undefined;
  let sweeps = 0;

  async function sweep(signal: AbortSignal): Promise<void> {
    sweeps += 1;
    const requestId = `expiry:${o.workerId}:${sweeps}`.slice(0, 200);
    await withRequestFields({ request_id: requestId, tenant_id: SYSTEM_TENANT_ID }, () =>
      runWithContext(
        {
          tenantId: SYSTEM_TENANT_ID,
          userId: null,
          roles: [],
          permissions: [],
          attributes: {},
          requestId,
          kind: 'service',
        },
        async () => {
          try {
            const answer = (await o.inventory.post(
              '/internal/reservations/expire-due',
              {},
              { tenantId: SYSTEM_TENANT_ID, requestId, signal },
            )) as { expired?: unknown } | null;
            const expired = typeof answer?.expired === 'number' ? answer.expired : 0;
            o.metrics.expiryRuns.inc({ outcome: 'ok' });
            if (expired > 0) {
              o.metrics.reservationsExpired.inc(expired);
              o.logger.info('reservations expired', { expired });
            }
          } catch (err) {
            if (signal.aborted) return;
            o.metrics.expiryRuns.inc({ outcome: 'error' });
            o.logger.warn('reservation expiry sweep failed', errorFields(err));
          }
        },
      ),
    );
  }

  async function lead(): Promise<void> {
    await o.locks.withLock(EXPIRY_LOCK_KEY, { ttlMs: o.lockTtlMs, waitMs: 0 }, async (lease) => {
      leader = true;
      o.metrics.expiryLeader.set(1);
      o.logger.info('expiry leader: sweeping reservations', { fencing_token: lease.token });
      const signal = AbortSignal.any([stopController.signal, lease.signal]);
      while (!signal.aborted) {
        const started = Date.now();
        await sweep(signal);
        await sleep(Math.max(0, o.intervalMs - (Date.now() - started)), signal);
      }
      if (lease.signal.aborted) o.logger.warn('expiry leader lease lost; standing by');
    });
  }

  async function run(): Promise<void> {
    const retryMs = Math.max(50, Math.min(o.intervalMs, Math.floor(o.lockTtlMs / 3)));
    let lastWarning = 0;
    while (!stopController.signal.aborted) {
      try {
        if (o.redis.status === 'ready') await lead();
      } catch (err) {
        if (!(err instanceof LockNotAcquiredError) && Date.now() - lastWarning > 10_000) {
          lastWarning = Date.now();
          o.logger.warn('expiry lock unavailable', errorFields(err));
        }
      } finally {
        if (leader) {
          leader = false;
          o.metrics.expiryLeader.set(0);
        }
      }
      await sleep(retryMs, stopController.signal);
    }
  }

  return {
    start() {
      loop ??= run();
    },
    async stop() {
      stopController.abort();
      await loop;
    },
    isLeader: () => leader,
  };
}
