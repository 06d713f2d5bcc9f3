import { createLogger, type Logger } from '@kv/logger';
import { currentRequestFields } from '@kv/http';
import { createMetrics, type Metrics } from '@kv/metrics';
import { createIdentityCodec, type IdentityCodec } from '@kv/tenant-context';
import type { Knex } from 'knex';
import type { AppDeps } from './app';
import type { Config } from './config';
import { createPool } from './data/knex';
import { createReadRouting } from './data/read-routing';
import { createDbRouter, ROUTING_DECISIONS, type DbRouter } from '@kv/db-router';

/** Everything `main.ts` wires together; `close()` releases it all. */
export interface Deps extends AppDeps {
  db: Knex;
  /** Writer + replica pools (its writer is `db`). */
  router: DbRouter;
  systemDb: Knex;
  codec: IdentityCodec;
  logger: Logger;
  metrics: Metrics;
  /** Closes every pool. Idempotent. */
  close(): Promise<void>;
}

/** Builds pools, codec, logger and metrics from the parsed configuration. */
export function createDeps(config: Config): Deps {
  const logger = createLogger({
    service: 'inventory',
    level: config.LOG_LEVEL,
    context: () => ({ ...currentRequestFields() }),
  });
  const metrics = createMetrics({ service: 'inventory' });
  const readDecisions = metrics.counter('db_read_routing_total', 'Read routing decisions', [
    'decision',
  ] as const);
  for (const decision of ROUTING_DECISIONS) readDecisions.inc({ decision }, 0);
  const hasReplicas = config.DATABASE_REPLICA_URLS.length > 0;
  const router = createDbRouter({
    writer: config.DATABASE_URL,
    readers: config.DATABASE_REPLICA_URLS,
    pool: {
      max: config.DB_POOL_MAX,
      statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
      applicationName: 'inventory',
    },
    logger,
    onDecision: (e) => readDecisions.inc({ decision: e.decision }),
  });
  const db = router.writer();
  const systemDb = createPool(config.DATABASE_SYSTEM_URL, {
    max: 2,
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    applicationName: 'inventory-system',
  });
  let closed: Promise<void> | undefined;
  return {
    db,
    router,
    // Without replicas every read is on the primary anyway: skip the per-write LSN query.
    ...(hasReplicas ? { reads: createReadRouting(router, { logger }) } : {}),
    healthChecks: hasReplicas
      ? {
          replicas: {
            critical: false,
            run: () => {
              const h = router.health();
              return Promise.resolve({
                status: h.replicas.some((r) => r.status !== 'up') ? 'degraded' : 'healthy',
                detail: h.detail,
              });
            },
          },
        }
      : {},
    systemDb,
    codec: createIdentityCodec({ secret: config.INTERNAL_SECRET }),
    logger,
    metrics,
    close: () => (closed ??= Promise.all([router.close(), systemDb.destroy()]).then(() => undefined)),
  };
}
