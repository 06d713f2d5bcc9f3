import type { Knex } from 'knex';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';
import { purgeDone } from '@kv/outbox';
import type { FailedJobsRepo } from '../data/failed-jobs';
import { SYSTEM_TENANT_ID } from '../data/schema';
import type { WorkerQueue } from '../queues/queues';
import type { HandlerRegistry } from './handlers';
import { withTimeout } from './timing';

/** Retention settings of the cleanup jobs. */
export interface CleanupSettings {
  schemas: string[];
  outboxRetentionHours: number;
  idempotencyRetentionHours: number;
  failedJobsRetentionDays: number;
}

async function tableExists(knex: Knex, table: string): Promise<boolean> {
  const { rows } = await knex.raw<{ rows: { t: string | null }[] }>('SELECT to_regclass(?)::text AS t', [
    table,
  ]);
  return rows[0]?.t != null;
}

/** Deletes idempotency keys older than `hours` from `<schema>.idempotency_keys`, in batches (system role). */
async function purgeIdempotencyKeys(
  knex: Knex,
  schema: string,
  hours: number,
  batch = 5000,
): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await knex.raw<{ rowCount: number }>(
      `DELETE FROM ${schema}.idempotency_keys WHERE ctid IN (
         SELECT ctid FROM ${schema}.idempotency_keys WHERE created_at < now() - make_interval(hours => ?) LIMIT ?)`,
      [hours, batch],
    );
    total += r.rowCount;
    if (r.rowCount < batch) return total;
  }
}

/** The cleanup job handlers (queue `low`). Schemas without the table are skipped. */
export function cleanupHandlers(knex: Knex, failedJobs: FailedJobsRepo, s: CleanupSettings): HandlerRegistry {
  return {
    'purge-outbox': {
      async run() {
        const deleted: Record<string, number> = {};
        for (const schema of s.schemas) {
          if (!(await tableExists(knex, `${schema}.outbox`))) continue;
          deleted[schema] = await purgeDone(knex, schema, s.outboxRetentionHours);
        }
        return { deleted };
      },
    },
    'purge-idempotency-keys': {
      async run() {
        const deleted: Record<string, number> = {};
        for (const schema of s.schemas) {
          if (!(await tableExists(knex, `${schema}.idempotency_keys`))) continue;
          deleted[schema] = await purgeIdempotencyKeys(knex, schema, s.idempotencyRetentionHours);
        }
        return { deleted };
      },
    },
    'purge-failed-jobs': {
      async run() {
        return { deleted: await failedJobs.purgeResolved(s.failedJobsRetentionDays) };
      },
    },
  };
}

/** The periodic cleanup jobs. */
export const CLEANUP_JOBS = ['purge-outbox', 'purge-idempotency-keys', 'purge-failed-jobs'] as const;

/** Options of {@link createCleanupScheduler}. */
export interface CleanupSchedulerOptions {
  queue: WorkerQueue;
  intervalMs: number;
  logger: Logger;
}

/** Enqueues the cleanup jobs once per period. */
export interface CleanupScheduler {
  start(): void;
  stop(): void;
  /** Enqueues this period's jobs now (idempotent within a period). */
  tick(): Promise<void>;
}

/**
 * Every replica enqueues the cleanup jobs of the current period with a job id derived from the period
 * (`cleanup:<job>:<period number>`), so however many replicas run, each period's jobs run once; completed
 * ones are kept for two periods so that the id still de-duplicates. Unlike bull repeatable jobs, this needs
 * nothing stored in Redis in advance, so it survives a Redis restart that lost everything.
 */
export function createCleanupScheduler(o: CleanupSchedulerOptions): CleanupScheduler {
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    const period = Math.floor(Date.now() / o.intervalMs);
    const keepS = Math.ceil((2 * o.intervalMs) / 1000);
    await withTimeout(
      o.queue.addBulk(
        CLEANUP_JOBS.map((name) => ({
          name,
          data: { tenantId: SYSTEM_TENANT_ID, payload: { period } },
          opts: { jobId: `cleanup:${name}:${period}`, removeOnComplete: { age: keepS } },
        })),
      ),
      5000,
      'enqueue of cleanup jobs timed out',
    );
  };
  return {
    start() {
      if (timer) return;
      const run = () => {
        tick().catch((err: unknown) => o.logger.warn('could not enqueue cleanup jobs', errorFields(err)));
      };
      run();
      timer = setInterval(run, Math.min(o.intervalMs, 60_000));
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
    tick,
  };
}
