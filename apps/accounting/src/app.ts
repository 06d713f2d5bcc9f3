import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { errorHandler, healthRouter, notFoundHandler, requestId, setRequestFields } from '@kv/http';
import { httpMetrics, metricsHandler } from '@kv/metrics/express';
import type { TenantContext } from '@kv/tenant-context';
import { requireIdentity } from '@kv/tenant-context/express';
import type { AppDeps } from './deps';
import { mountAccountingRoutes } from './routes/accounting';
import { mountInternalRoutes } from './routes/internal';
import { identityOf } from './routes/mount';

/** Creates the accounting HTTP app (no listen, no environment). */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestId());
  app.use(helmet());
  app.use(httpMetrics(deps.metrics));

  app.use(
    healthRouter({
      isShuttingDown: deps.isShuttingDown,
      checks: {
        database: {
          run: async () => {
            await deps.db.writer().raw('SELECT 1');
          },
        },
        replicas: {
          critical: false,
          run: () => {
            const h = deps.db.health();
            if (h.replicas.length === 0)
              return Promise.resolve({ status: 'healthy', detail: 'no replicas configured' });
            const down = h.replicas.filter((r) => r.status !== 'up');
            return Promise.resolve(
              down.length === 0
                ? { status: 'healthy' }
                : {
                    status: 'degraded',
                    detail: `${down.length} of ${h.replicas.length} replicas not serving; reads use the primary`,
                  },
            );
          },
        },
        redis: {
          critical: false,
          run: async () => {
            await deps.redis.ping();
          },
        },
        locks: {
          critical: false,
          run: () =>
            Promise.resolve(
              deps.redis.status === 'ready'
                ? { status: 'healthy' }
                : {
                    status: 'degraded',
                    detail: 'Redis is unreachable: period closes answer 503 until it is back',
                  },
            ),
        },
      },
    }),
  );
  app.get('/metrics', metricsHandler(deps.metrics));

  const onIdentity = (ctx: TenantContext) =>
    setRequestFields({ tenant_id: ctx.tenantId, ...(ctx.userId ? { user_id: ctx.userId } : {}) });
  // Every tenant gets its system accounts the first time it is seen (any request or event).
  const bootstrapTenant = async (_req: Request, res: Response, next: NextFunction) => {
    await deps.bootstrap.ensure(identityOf(res).tenantId);
    next();
  };
  app.use('/v1', requireIdentity(deps.codec, { onIdentity }), bootstrapTenant);
  app.use('/internal', requireIdentity(deps.codec, { kinds: ['service'], onIdentity }), bootstrapTenant);
  mountAccountingRoutes(app, deps);
  mountInternalRoutes(app, deps);

  app.use(notFoundHandler());
  app.use(errorHandler(deps.logger));
  return app;
}
