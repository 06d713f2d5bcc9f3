import express from 'express';
import { errorHandler, healthRouter, jsonBody, notFoundHandler, requestId, type HealthCheck } from '@kv/http';
import { httpMetrics, metricsHandler } from '@kv/metrics/express';
import type { Deps } from './deps';
import { QUEUE_NAMES } from './queues/queues';
import { adminRouter } from './routes/admin';

/** What the HTTP app needs besides {@link Deps}. */
export interface AppOptions {
  /** True while shutting down (readiness then answers 503). */
  isShuttingDown?: () => boolean;
  /** Whether this replica currently leads the expiry sweep (shown in the `locks` check). */
  isExpiryLeader?: () => boolean;
}

/**
 * Readiness checks: PostgreSQL and Redis are critical (the worker can do nothing without either: 503);
 * a queue backlog above `QUEUE_BACKLOG_THRESHOLD` or an outbox row pending longer than
 * `OUTBOX_LAG_THRESHOLD_S` makes it degraded (200).
 */
export function healthChecks(deps: Deps, options: AppOptions = {}): Record<string, HealthCheck> {
  const { config } = deps;
  return {
    database: {
      run: async () => {
        await deps.systemKnex.raw('SELECT 1');
      },
    },
    redis: {
      run: async () => {
        await deps.redis.ping();
      },
    },
    queues: {
      critical: false,
      run: async () => {
        const depths = await deps.monitor.queueDepths();
        const over = QUEUE_NAMES.filter(
          (q) => depths[q].waiting + depths[q].delayed > config.QUEUE_BACKLOG_THRESHOLD,
        );
        const detail = QUEUE_NAMES.map(
          (q) =>
            `${q}: ${depths[q].waiting} waiting, ${depths[q].active} active, ${depths[q].delayed} delayed`,
        ).join('; ');
        return over.length > 0
          ? {
              status: 'degraded',
              detail: `backlog above ${config.QUEUE_BACKLOG_THRESHOLD} in ${over.join(', ')}; ${detail}`,
            }
          : { status: 'healthy', detail };
      },
    },
    outbox: {
      critical: false,
      run: async () => {
        const stats = await deps.monitor.outbox();
        const late = Object.entries(stats).filter(
          ([, s]) => s.oldestPendingAgeS > config.OUTBOX_LAG_THRESHOLD_S,
        );
        const detail = Object.entries(stats)
          .map(
            ([schema, s]) => `${schema}: ${s.pending} pending, oldest ${Math.round(s.oldestPendingAgeS)} s`,
          )
          .join('; ');
        return late.length > 0
          ? {
              status: 'degraded',
              detail: `events pending longer than ${config.OUTBOX_LAG_THRESHOLD_S} s; ${detail}`,
            }
          : { status: 'healthy', detail: detail || 'no outbox tables yet' };
      },
    },
    locks: {
      critical: false,
      run: () =>
        Promise.resolve({
          status: 'healthy' as const,
          detail: options.isExpiryLeader?.() ? 'expiry leader' : 'expiry standby',
        }),
    },
  };
}

/** The worker's HTTP app: health, metrics and the failed-jobs admin API. No listen(), no env. */
export function createApp(deps: Deps, options: AppOptions = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestId());
  app.use(httpMetrics(deps.metrics));
  app.use(
    healthRouter({
      checks: healthChecks(deps, options),
      ...(options.isShuttingDown ? { isShuttingDown: options.isShuttingDown } : {}),
    }),
  );
  app.get('/metrics', metricsHandler(deps.metrics));
  app.use(jsonBody());
  app.use(
    adminRouter({
      codec: deps.codec,
      systemKnex: deps.systemKnex,
      failedJobs: deps.failedJobs,
      queues: deps.queues,
    }),
  );
  app.use(notFoundHandler());
  app.use(errorHandler(deps.logger));
  return app;
}
