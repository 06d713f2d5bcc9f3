import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { createLockManager, type LockManager } from '@kv/distributed-lock';
import { currentRequestFields } from '@kv/http';
import { createLogger, type Logger } from '@kv/logger';
import { createMetrics, type Metrics } from '@kv/metrics';
import { createIdentityCodec, type IdentityCodec } from '@kv/tenant-context';
import type { Config } from './config';
import { createFailedJobsRepo, type FailedJobsRepo } from './data/failed-jobs';
import { SCHEMA } from './data/schema';
import { createMonitor, type Monitor } from './domain/monitor';
import { createServiceClient, type ServiceClient } from './domain/service-client';
import { createWorkerMetrics, type WorkerMetrics } from './domain/worker-metrics';
import { createQueues, QUEUE_NAMES, type QueueName, type WorkerQueue } from './queues/queues';

/** Everything the worker runs on. Built once by {@link createDeps}; `close()` releases it all. */
export interface Deps {
  config: Config;
  /** This replica's name (logs, request ids). */
  workerId: string;
  logger: Logger;
  metrics: Metrics;
  workerMetrics: WorkerMetrics;
  /** `kv_system` pool: outbox relay, failed jobs, cleanup, fencing tokens. */
  systemKnex: Knex;
  /** The worker's own Redis client (locks, health, data-loss sentinel); bull has its own connections. */
  redis: Redis;
  queues: Record<QueueName, WorkerQueue>;
  codec: IdentityCodec;
  inventory: ServiceClient;
  accounting: ServiceClient;
  locks: LockManager;
  failedJobs: FailedJobsRepo;
  monitor: Monitor;
  /** Closes the queues (bull quits its own connections), the Redis client and the pool. Idempotent. */
  close(): Promise<void>;
}

/** Test seams. */
export interface DepsOverrides {
  /** Replaces the logger entirely. */
  logger?: Logger;
  /** Keeps the real logger (with its request context) but writes to this stream. */
  logStream?: NodeJS.WritableStream;
}

/** Builds pools, clients, queues, logger and metrics from the parsed config. Connects lazily; never throws on I/O. */
export function createDeps(config: Config, overrides: DepsOverrides = {}): Deps {
  const workerId = config.WORKER_ID ?? `${hostname()}-${process.pid}`;
  const logger =
    overrides.logger ??
    createLogger({
      service: 'worker',
      level: config.LOG_LEVEL,
      context: () => ({ ...currentRequestFields() }),
      ...(overrides.logStream ? { stream: overrides.logStream } : {}),
    }).child({
      worker_id: workerId,
    });
  const metrics = createMetrics({ service: 'worker' });
  const workerMetrics = createWorkerMetrics(metrics);
  const systemKnex = knexFactory({
    client: 'pg',
    connection: {
      connectionString: config.DATABASE_SYSTEM_URL,
      statement_timeout: config.DB_STATEMENT_TIMEOUT_MS,
    },
    pool: { min: 0, max: config.DB_POOL_MAX },
  });
  // Fails fast while Redis is down (no offline queue, 1 s command timeout) instead of queueing forever.
  const redis = new Redis(config.REDIS_URL, {
    enableOfflineQueue: false,
    commandTimeout: 1000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * times, 2000),
  });
  let lastRedisError = 0;
  redis.on('error', (err: Error) => {
    if (Date.now() - lastRedisError < 5000) return;
    lastRedisError = Date.now();
    logger.warn('redis client error', { error: err.message });
  });
  const queues = createQueues({
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    attempts: {
      high: config.QUEUE_HIGH_ATTEMPTS,
      default: config.QUEUE_DEFAULT_ATTEMPTS,
      low: config.QUEUE_LOW_ATTEMPTS,
    },
    backoffBaseMs: config.QUEUE_BACKOFF_BASE_MS,
    backoffMaxMs: config.QUEUE_BACKOFF_MAX_MS,
    lockDurationMs: config.QUEUE_LOCK_DURATION_MS,
    lockRenewMs: config.QUEUE_LOCK_RENEW_MS,
    stalledIntervalMs: config.QUEUE_STALLED_INTERVAL_MS,
    maxStalledCount: config.QUEUE_MAX_STALLED_COUNT,
  });
  const codec = createIdentityCodec({ secret: config.INTERNAL_SECRET });
  const inventory = createServiceClient({
    baseUrl: config.INVENTORY_URL,
    name: 'inventory',
    codec,
    timeoutMs: config.HTTP_TIMEOUT_MS,
  });
  const accounting = createServiceClient({
    baseUrl: config.ACCOUNTING_URL,
    name: 'accounting',
    codec,
    timeoutMs: config.HTTP_TIMEOUT_MS,
  });
  const locks = createLockManager({
    redis,
    knex: systemKnex,
    schema: SCHEMA,
    prefix: `${config.QUEUE_PREFIX.replace(/[{}]/g, '')}:`,
    logger,
    metrics: {
      acquired: (e) =>
        workerMetrics.lockWait.observe({ name: e.name, outcome: 'acquired' }, e.waitedMs / 1000),
      busy: (e) => workerMetrics.lockWait.observe({ name: e.name, outcome: 'busy' }, e.waitedMs / 1000),
      failed: (e) => workerMetrics.lockWait.observe({ name: e.name, outcome: 'failed' }, e.waitedMs / 1000),
      lost: (e) => workerMetrics.lockLost.inc({ name: e.name }),
    },
  });
  const failedJobs = createFailedJobsRepo(systemKnex);
  const monitor = createMonitor({
    queues,
    systemKnex,
    schemas: config.RELAY_SCHEMAS,
    metrics: workerMetrics,
    logger,
  });
  let closing: Promise<void> | undefined;
  return {
    config,
    workerId,
    logger,
    metrics,
    workerMetrics,
    systemKnex,
    redis,
    queues,
    codec,
    inventory,
    accounting,
    locks,
    failedJobs,
    monitor,
    close() {
      closing ??= (async () => {
        monitor.stop();
        await Promise.allSettled(QUEUE_NAMES.map((q) => queues[q].close(true)));
        inventory.close();
        accounting.close();
        await redis.quit().catch(() => redis.disconnect());
        await systemKnex.destroy();
      })();
      return closing;
    },
  };
}
