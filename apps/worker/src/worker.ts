import { setMaxListeners } from 'node:events';
import { errorFields } from '@kv/logger';
import type { Deps } from './deps';
import { cleanupHandlers, createCleanupScheduler, type CleanupScheduler } from './domain/cleanup';
import { createExpiry, type Expiry } from './domain/expiry';
import { stockMovementHandler, type HandlerRegistry } from './domain/handlers';
import { createDoneBatcher } from './domain/done-batcher';
import { createProcessor } from './domain/processor';
import { createRelay, type Relay } from './domain/relay';
import { withTimeout } from './domain/timing';
import { QUEUE_NAMES, type QueueName } from './queues/queues';

/** A running worker: queue consumers, outbox relay, expiry singleton, cleanup scheduler. */
export interface Worker {
  relay: Relay;
  expiry: Expiry;
  cleanup: CleanupScheduler;
  /**
   * Graceful stop: stops the relay, the expiry sweep (its lease is released) and the scheduler, stops taking
   * jobs and waits up to `SHUTDOWN_TIMEOUT_MS` for the active ones; jobs still running then are handed back
   * (their lock is no longer renewed, so another replica takes them over as stalled). Does not close `deps`.
   */
  stop(): Promise<void>;
}

/** Which parts to run (tests switch some off). All default to on, except expiry which follows `EXPIRY_ENABLED`. */
export interface WorkerParts {
  relay?: boolean;
  consumers?: boolean;
  expiry?: boolean;
  cleanup?: boolean;
}

/** All job handlers by job name. */
export function createHandlers(deps: Deps): HandlerRegistry {
  return {
    'stock-movement': stockMovementHandler(deps.accounting, deps.workerMetrics),
    ...cleanupHandlers(deps.systemKnex, deps.failedJobs, {
      schemas: deps.config.RELAY_SCHEMAS,
      outboxRetentionHours: deps.config.OUTBOX_RETENTION_HOURS,
      idempotencyRetentionHours: deps.config.IDEMPOTENCY_RETENTION_HOURS,
      failedJobsRetentionDays: deps.config.FAILED_JOBS_RETENTION_DAYS,
    }),
  };
}

/** Starts the worker on `deps`. */
export function startWorker(deps: Deps, parts: WorkerParts = {}): Worker {
  const { config, logger, workerMetrics: metrics } = deps;
  const jobsAbort = new AbortController();
  // One listener per call in flight (up to the total concurrency), each removed when its call ends.
  setMaxListeners(0, jobsAbort.signal);
  const concurrency: Record<QueueName, number> = {
    high: config.QUEUE_HIGH_CONCURRENCY,
    default: config.QUEUE_DEFAULT_CONCURRENCY,
    low: config.QUEUE_LOW_CONCURRENCY,
  };
  const handlers = createHandlers(deps);

  for (const name of QUEUE_NAMES) {
    const queue = deps.queues[name];
    let lastError = 0;
    queue.on('error', (err: Error) => {
      if (Date.now() - lastError < 5000) return;
      lastError = Date.now();
      logger.warn('queue error', { queue: name, error: err.message });
    });
    queue.on('stalled', (job: { id?: unknown } | null) => {
      metrics.stalled.inc({ queue: name });
      logger.warn('job stalled (its worker stopped renewing the lock); processing it again', {
        queue: name,
        job_id: job?.id,
      });
    });
    queue.on('failed', (job: { id?: unknown; name?: string } | null, err: Error) => {
      // Failures of our own processor are recorded by it; this catches jobs failed by bull itself after
      // stalling more than maxStalledCount times. Their outbox row is still pending: the relay redelivers it.
      if (!/stalled more than/.test(err.message)) return;
      metrics.failures.inc({ queue: name, name: job?.name ?? 'unknown', kind: 'stalled' });
      logger.error('job stalled too often; its outbox event will be redelivered', {
        queue: name,
        job_id: job?.id,
      });
    });
  }

  const done = createDoneBatcher({ systemKnex: deps.systemKnex });
  if (parts.consumers !== false) {
    for (const name of QUEUE_NAMES) {
      const processor = createProcessor(
        {
          handlers,
          done,
          failedJobs: deps.failedJobs,
          metrics,
          logger,
          signal: jobsAbort.signal,
          workerId: deps.workerId,
        },
        name,
      );
      deps.queues[name].process('*', concurrency[name], processor).catch((err: unknown) => {
        logger.error('queue processing stopped', { queue: name, ...errorFields(err) });
      });
    }
  }

  const relay = createRelay({
    systemKnex: deps.systemKnex,
    queues: deps.queues,
    redis: deps.redis,
    failedJobs: deps.failedJobs,
    metrics,
    logger,
    schemas: config.RELAY_SCHEMAS,
    batch: config.RELAY_BATCH,
    intervalMs: config.RELAY_INTERVAL_MS,
    redeliverAfterMs: config.RELAY_REDELIVER_AFTER_MS,
    maxQueued: config.RELAY_MAX_QUEUED,
    sentinelKey: `${config.QUEUE_PREFIX}:worker:sentinel`,
  });
  const expiry = createExpiry({
    locks: deps.locks,
    redis: deps.redis,
    inventory: deps.inventory,
    metrics,
    logger,
    workerId: deps.workerId,
    intervalMs: config.EXPIRY_INTERVAL_MS,
    lockTtlMs: config.EXPIRY_LOCK_TTL_MS,
  });
  const cleanup = createCleanupScheduler({
    queue: deps.queues.low,
    intervalMs: config.CLEANUP_INTERVAL_MS,
    logger,
  });

  if (parts.relay !== false) relay.start();
  if (parts.expiry ?? config.EXPIRY_ENABLED) expiry.start();
  if (parts.cleanup !== false) cleanup.start();
  deps.monitor.start();
  logger.info('worker started', { concurrency, schemas: config.RELAY_SCHEMAS });

  let stopping: Promise<void> | undefined;
  return {
    relay,
    expiry,
    cleanup,
    stop() {
      stopping ??= (async () => {
        logger.info('worker stopping: no new jobs; finishing active ones');
        cleanup.stop();
        await Promise.all([relay.stop(), expiry.stop()]);
        const finished = await Promise.all(
          QUEUE_NAMES.map((q) =>
            withTimeout(deps.queues[q].pause(true), config.SHUTDOWN_TIMEOUT_MS, 'timeout').then(
              () => true,
              () => false,
            ),
          ),
        );
        if (finished.includes(false)) {
          logger.warn('active jobs did not finish in time; handing them back (their locks expire)');
        }
        await Promise.allSettled(QUEUE_NAMES.map((q) => deps.queues[q].close(true)));
        await done.flush();
        jobsAbort.abort();
        deps.monitor.stop();
        logger.info('worker stopped');
      })();
      return stopping;
    },
  };
}
