import { Redis } from 'ioredis';
import knex from 'knex';
import { createDbRouter, type DbRouter } from '@kv/db-router';
import { createLockManager, type LockManager } from '@kv/distributed-lock';
import { currentRequestFields } from '@kv/http';
import { createLogger, type Logger } from '@kv/logger';
import { createMetrics, type Metrics } from '@kv/metrics';
import { createIdentityCodec, type IdentityCodec } from '@kv/tenant-context';
import type { Config } from './config';
import { createWritePositions } from './data/read-your-writes';
import { createUnitOfWork, type UnitOfWork } from './data/unit-of-work';
import type { PeriodCloseSettings } from './domain/periods';
import { createTenantBootstrap, type TenantBootstrap } from './domain/tenants';
import { migrate } from './migrate';
import { createAppMetrics, type AppMetrics } from './metrics';

/** Everything the app needs, built once per process. */
export interface AppDeps {
  db: DbRouter;
  uow: UnitOfWork;
  bootstrap: TenantBootstrap;
  redis: Redis;
  locks: LockManager;
  codec: IdentityCodec;
  logger: Logger;
  metrics: Metrics;
  appMetrics: AppMetrics;
  periodClose: PeriodCloseSettings;
  /** True once graceful shutdown began (readiness then answers 503). */
  isShuttingDown: () => boolean;
  /** Marks the process as shutting down. */
  beginShutdown(): void;
  /** Closes pools and clients. Idempotent. */
  close(): Promise<void>;
}

/** What tests (or embedding code) may replace. */
export interface DepsOverrides {
  logger?: Logger;
}

/**
 * Builds pools, Redis, locks, logger and metrics from the config; runs the migrations first when
 * `MIGRATE_ON_START` is set. A Redis that is down at start does not stop the service (closes then answer 503).
 * @throws when the migrations fail.
 */
export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<AppDeps> {
  const logger =
    overrides.logger ??
    createLogger({
      service: 'accounting',
      level: config.LOG_LEVEL,
      context: () => ({ ...currentRequestFields() }),
    });
  if (config.MIGRATE_ON_START && config.DATABASE_OWNER_URL) {
    const owner = knex({ client: 'pg', connection: config.DATABASE_OWNER_URL, pool: { min: 0, max: 2 } });
    try {
      await migrate(owner);
    } finally {
      await owner.destroy();
    }
  }
  const metrics = createMetrics({ service: 'accounting' });
  const appMetrics = createAppMetrics(metrics);
  const db = createDbRouter({
    writer: config.DATABASE_URL,
    readers: config.DATABASE_REPLICA_URLS,
    pool: {
      max: config.DB_POOL_MAX,
      statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
      applicationName: 'accounting',
    },
    logger,
    // On a cache miss, one cheap replay-position query on the replica instead of sending the read to the primary.
    lsnCheck: 'recheck',
    onDecision: (e) => appMetrics.readRouting.inc({ decision: e.decision }),
  });
  const redis = new Redis(config.REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  redis.on('error', (err: Error) => logger.debug('redis error', { error: err.message }));
  await redis
    .connect()
    .catch((err: unknown) =>
      logger.warn('redis is not reachable at start; period closes will answer 503', { error: String(err) }),
    );
  const locks = createLockManager({
    redis,
    knex: db.writer(),
    schema: 'accounting',
    prefix: config.REDIS_KEY_PREFIX,
    logger,
    metrics: appMetrics.lockHooks,
  });
  const positions = createWritePositions(
    { router: db, redis, prefix: config.REDIS_KEY_PREFIX, logger },
    config.DATABASE_REPLICA_URLS.length > 0,
  );
  const uow = createUnitOfWork({ router: db, positions, idempotencyTable: 'accounting.idempotency_keys' });
  appMetrics.registerInFlight(() => uow.active());
  let shuttingDown = false;
  let closed: Promise<void> | undefined;
  return {
    db,
    uow,
    bootstrap: createTenantBootstrap(uow),
    redis,
    locks,
    codec: createIdentityCodec({ secret: config.INTERNAL_SECRET }),
    logger,
    metrics,
    appMetrics,
    periodClose: {
      lockTtlMs: config.PERIOD_CLOSE_LOCK_TTL_MS,
      lockWaitMs: config.PERIOD_CLOSE_LOCK_WAIT_MS,
      postingDrainTimeoutMs: config.PERIOD_CLOSE_DRAIN_TIMEOUT_MS,
    },
    isShuttingDown: () => shuttingDown,
    beginShutdown() {
      shuttingDown = true;
    },
    close() {
      closed ??= (async () => {
        shuttingDown = true;
        await uow.drain(10_000);
        redis.disconnect();
        await db.close();
      })();
      return closed;
    },
  };
}
