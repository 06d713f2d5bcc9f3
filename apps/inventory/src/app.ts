import {
  errorHandler,
  healthRouter,
  notFoundHandler,
  requestId,
  setRequestFields,
  type HealthCheck,
} from '@kv/http';
import type { Logger } from '@kv/logger';
import type { Metrics } from '@kv/metrics';
import { httpMetrics, metricsHandler } from '@kv/metrics/express';
import type { IdentityCodec, TenantContext } from '@kv/tenant-context';
import { requireIdentity } from '@kv/tenant-context/express';
import express from 'express';
import helmet from 'helmet';
import type { Knex } from 'knex';
import { auditRouter } from './routes/audit';
import { translateDbErrors } from './routes/db-errors';
import { internalRouter } from './routes/internal';
import { inventoryRouter } from './routes/inventory';
import type { ReadRouting } from './data/read-routing';
import type { RouteDb } from './routes/respond';

/** What the app needs; built by `createDeps` in production and by the test helper in tests. */
export interface AppDeps {
  /** Primary as `kv_app`: writes and stock decisions. */
  db: Knex;
  /** Where plain reads go, with read-your-writes (`createReadRouting`); default: everything on `db`. */
  reads?: ReadRouting;
  /** `kv_system` (BYPASSRLS, narrow grants): the cross-tenant expiry sweep only. */
  systemDb: Knex;
  /** Verifies `x-kv-identity`. */
  codec: IdentityCodec;
  logger: Logger;
  metrics: Metrics;
  /** Extra readiness checks (e.g. replicas, non-critical). */
  healthChecks?: Record<string, HealthCheck>;
  /** True during graceful shutdown: readiness then answers 503. */
  isShuttingDown?: () => boolean;
}

/** The inventory HTTP app (no listen, no environment). */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestId());
  app.use(helmet());
  app.use(httpMetrics(deps.metrics));

  app.use(
    healthRouter({
      checks: {
        database: { critical: true, run: async () => void (await deps.db.raw('SELECT 1')) },
        ...(deps.healthChecks ?? {}),
      },
      ...(deps.isShuttingDown ? { isShuttingDown: deps.isShuttingDown } : {}),
    }),
  );
  app.get('/metrics', metricsHandler(deps.metrics));

  const reads = deps.reads;
  const db: RouteDb = reads
    ? { writer: deps.db, read: (ctx, fn) => reads.read(ctx, fn), afterWrite: (ctx) => reads.afterWrite(ctx) }
    : { writer: deps.db, read: (_ctx, fn) => fn(deps.db) };
  const onIdentity = (ctx: TenantContext) =>
    setRequestFields({ tenant_id: ctx.tenantId, ...(ctx.userId ? { user_id: ctx.userId } : {}) });

  app.use('/v1', requireIdentity(deps.codec, { onIdentity }));
  app.use(inventoryRouter(db, deps.metrics));
  app.use(auditRouter(db));

  app.use('/internal', requireIdentity(deps.codec, { kinds: ['service'], onIdentity }));
  app.use(internalRouter(deps.systemDb, deps.metrics));

  app.use(notFoundHandler());
  app.use(translateDbErrors());
  app.use(errorHandler(deps.logger));
  return app;
}
