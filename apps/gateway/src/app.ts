import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import { ROUTES, type RouteSpec } from '@kv/api-contract';
import { errorHandler, healthRouter, jsonBody, MAX_BODY_BYTES, notFoundHandler, requestId } from '@kv/http';
import { httpMetrics, metricsHandler } from '@kv/metrics/express';
import { createTrustedProxies, FallbackStore } from '@kv/rate-limiter';
import { clientIp, ipLimiter, loginLimiter, tenantLimiter, userLimiter } from '@kv/rate-limiter/express';
import type { GatewayDeps, UpstreamName } from './deps';
import { authState, authorize, requireUser, verifyBearer } from './http/auth';
import { cors } from './http/cors';
import { infrastructureErrors } from './http/errors';
import { proxyTo } from './http/proxy';
import type { AsyncHandler } from './http/types';
import { adminQueuesRouter } from './routes/admin-queues';
import { auditHandlers } from './routes/audit';
import { authHandlers } from './routes/auth';
import { docsRouter } from './routes/docs';
import { userHandlers } from './routes/users';

const LOGIN = 'post /v1/auth/login';
const routeKey = (r: Pick<RouteSpec, 'method' | 'path'>) => `${r.method} ${r.path}`;

/**
 * The gateway's Express app: request id, metrics, helmet, CORS; health, metrics and docs outside auth and
 * limits; then every route of the contract's table with, in this order, token verification, rate limits
 * (per IP for anonymous requests, per login IP, per user and tenant), 401, 403 and the handler: local for the
 * gateway's own routes, a proxy to the owning service otherwise. No `listen()`, no `process.env`.
 * @throws Error when a gateway route of the table has no handler.
 */
export function createApp(deps: GatewayDeps, routes: readonly RouteSpec[] = ROUTES): express.Express {
  const { config, logger, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const trusted = createTrustedProxies(config.TRUSTED_PROXIES);
  /** The client IP (X-Forwarded-For believed from trusted proxies only), computed when needed. */
  const clientIpOf = (res: express.Response): string | undefined => clientIp(res.req, trusted);
  const fallbackDecisions = metrics.counter('gateway_rate_limit_decisions_total', 'Rate limit decisions', [
    'limiter',
    'outcome',
    'source',
  ] as const);
  const degradedGauge = metrics.gauge(
    'gateway_rate_limiter_degraded',
    '1 while a limiter counts in process (Redis down)',
    ['limiter'] as const,
  );
  const fallbackHits = metrics.counter(
    'gateway_rate_limit_fallback_total',
    'Hits counted in process (Redis down)',
    ['limiter'] as const,
  );
  const stores: FallbackStore[] = [];
  const store = (name: string, limit: number) => {
    const s = new FallbackStore({
      redis: deps.redis,
      prefix: `${config.REDIS_KEY_PREFIX}rl:`,
      name,
      fallbackLimit: Math.max(1, Math.ceil(limit / config.RATE_LIMIT_FALLBACK_DIVISOR)),
      onFallback: (limiter) => fallbackHits.inc({ limiter }),
      onStateChange: (change) => {
        degradedGauge.set({ limiter: name }, change.degraded ? 1 : 0);
        if (change.degraded)
          logger.warn('rate limiter counts in process (Redis unavailable)', { limiter: name });
        else logger.info('rate limiter counts in Redis again', { limiter: name });
      },
    });
    degradedGauge.set({ limiter: name }, 0);
    stores.push(s);
    return s;
  };
  const onDecision = (result: { name: string; source: string }, allowed: boolean) =>
    fallbackDecisions.inc({
      limiter: result.name,
      outcome: allowed ? 'allowed' : 'limited',
      source: result.source,
    });
  const claimsIdentity = (_req: express.Request, res: express.Response) => {
    const claims = authState(res).claims;
    return claims ? { tenantId: claims.tid, userId: claims.sub } : undefined;
  };
  const isLogin = (req: express.Request) => req.method === 'POST' && req.path === '/v1/auth/login';
  const limit = {
    ip: ipLimiter({
      limit: config.RATE_LIMIT_IP_PER_MIN,
      store: store('ip', config.RATE_LIMIT_IP_PER_MIN),
      trustedProxies: trusted,
      skip: (req, res) => authState(res).claims !== undefined || isLogin(req),
      logger,
      onDecision,
    }),
    login: loginLimiter({
      limit: config.RATE_LIMIT_LOGIN_PER_MIN,
      store: store('login', config.RATE_LIMIT_LOGIN_PER_MIN),
      trustedProxies: trusted,
      logger,
      onDecision,
    }),
    user: userLimiter({
      limit: config.RATE_LIMIT_USER_PER_MIN,
      store: store('user', config.RATE_LIMIT_USER_PER_MIN),
      identity: claimsIdentity,
      logger,
      onDecision,
    }),
    tenant: tenantLimiter({
      limit: config.RATE_LIMIT_TENANT_PER_MIN,
      store: store('tenant', config.RATE_LIMIT_TENANT_PER_MIN),
      identity: claimsIdentity,
      logger,
      onDecision,
    }),
  };

  app.use(requestId());
  app.use(httpMetrics(metrics));
  app.use(
    helmet({
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
      crossOriginEmbedderPolicy: false,
    }),
  );
  app.use(cors(config.CORS_ORIGINS));

  // The API first: it is the hot path, and none of its paths overlap the operational routes below.
  const local: Record<string, AsyncHandler> = {
    ...authHandlers(deps.auth),
    ...userHandlers(deps.users, deps.tenants),
    ...auditHandlers({
      knex: deps.knex,
      upstreams: { inventory: deps.upstreams.inventory, accounting: deps.upstreams.accounting },
      codec: deps.codec,
      clientIpOf,
    }),
  };
  const rawBody = express.raw({ type: () => true, limit: MAX_BODY_BYTES });
  const json = jsonBody();
  const identityOfRes = (res: express.Response) => authState(res).identity;

  for (const spec of routes) {
    const key = routeKey(spec);
    let handler: AsyncHandler;
    if (spec.upstream === 'gateway') {
      const found = local[key];
      if (!found) throw new Error(`the gateway has no handler for ${key}`);
      handler = found;
    } else {
      handler = proxyTo(deps.upstreams[spec.upstream], deps.codec, identityOfRes, clientIpOf);
    }
    const limiters: RequestHandler[] = key === LOGIN ? [limit.login] : [limit.ip, limit.user, limit.tenant];
    app[spec.method](
      spec.path,
      verifyBearer(deps.tokens, spec.access, deps.identity),
      ...limiters,
      requireUser(deps.identity, spec.access),
      authorize(spec.access),
      ...(spec.method === 'get' ? [] : [spec.upstream === 'gateway' ? json : rawBody]),
      handler,
    );
  }

  // Unknown API paths still count against the anonymous limit (scanners), then 404 (below).
  app.use('/v1', verifyBearer(deps.tokens, 'authenticated'), limit.ip, limit.user, limit.tenant);

  // Outside authentication and rate limits (contract).
  app.use(
    healthRouter({
      isShuttingDown: deps.isShuttingDown,
      timeoutMs: 2000,
      checks: {
        database: {
          run: async () => {
            try {
              await deps.knex.raw('SELECT 1');
            } catch {
              // Never the driver's message: it can name hosts, databases and roles.
              return { status: 'unhealthy', detail: 'unreachable' };
            }
          },
        },
        redis: {
          critical: false,
          run: async () => {
            try {
              await deps.redis.ping();
            } catch {
              return {
                status: 'unhealthy',
                detail: 'unreachable: rate limits count in process; login, refresh and logout answer 503',
              };
            }
          },
        },
        rate_limiter: {
          critical: false,
          run: async () => {
            const probes = await Promise.all(stores.map((s) => s.probe()));
            const local = stores.filter((_s, i) => !probes[i]).map((s) => s.name);
            return local.length
              ? { status: 'degraded' as const, detail: `counting in process: ${local.join(', ')}` }
              : undefined;
          },
        },
        ...Object.fromEntries(
          (Object.keys(deps.upstreams) as UpstreamName[]).map((name) => [
            name,
            {
              critical: false,
              run: async () => {
                const client = deps.upstreams[name];
                const status = await client.probe('/health/live', 1000).catch(() => 0);
                const circuit = client.breakerState();
                if (status !== 200)
                  return { status: 'unhealthy' as const, detail: `unreachable (circuit ${circuit})` };
                return circuit === 'closed'
                  ? undefined
                  : { status: 'degraded' as const, detail: `circuit ${circuit}` };
              },
            },
          ]),
        ),
      },
    }),
  );
  app.get('/metrics', metricsHandler(metrics));
  app.use(docsRouter(routes));
  app.use(
    '/admin/queues',
    adminQueuesRouter({
      queues: deps.queues,
      tokens: deps.tokens,
      identity: deps.identity,
      directory: deps.directory,
      passwords: deps.passwords,
      limiters: [limit.ip, limit.user, limit.tenant],
    }),
  );

  app.use(notFoundHandler());
  app.use(infrastructureErrors());
  app.use(errorHandler(logger));
  return app;
}
