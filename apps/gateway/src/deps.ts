import { randomBytes } from 'node:crypto';
import Bull from 'bull';
import Redis from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { PLATFORM_TENANT_SLUG } from '@kv/api-contract';
import { currentRequestFields } from '@kv/http';
import { createLogger, errorFields, type Logger } from '@kv/logger';
import { createMetrics, type Metrics } from '@kv/metrics';
import { createIdentityCodec, type IdentityCodec } from '@kv/tenant-context';
import type { Config } from './config';
import { createSystemDirectory, type SystemDirectory } from './data/system-directory';
import { createAuthService, type AuthService } from './domain/auth-service';
import { createIdentityResolver, type IdentityResolver } from './domain/identity';
import { createPasswordHasher, type PasswordHasher, type ScryptParams } from './domain/passwords';
import { createSessionStore, type SessionStore } from './domain/sessions';
import { createTenantsService, type TenantsService } from './domain/tenants-service';
import { createTokenService, type SigningKeys, type TokenService } from './domain/tokens';
import { createUsersService, type UsersService } from './domain/users-service';
import type { BreakerState } from './http/circuit-breaker';
import { createUpstreamClient, type UpstreamClient } from './http/upstream';
import { migrate } from './migrate';

/** Upstream services the gateway routes to. */
export type UpstreamName = 'inventory' | 'accounting' | 'worker';

/** Queues shown on the dashboard (bull's default key prefix, same Redis as the worker). */
export const QUEUE_NAMES = ['high', 'default', 'low'] as const;

/** Everything `createApp` needs, built once per process by {@link createDeps}. */
export interface GatewayDeps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** `kv_app` pool. */
  knex: Knex;
  /** `kv_system` pool, used only through {@link SystemDirectory}. */
  system: Knex;
  /** Command client (no offline queue, short command timeout). */
  redis: Redis;
  directory: SystemDirectory;
  passwords: PasswordHasher;
  tokens: TokenService;
  sessions: SessionStore;
  identity: IdentityResolver;
  auth: AuthService;
  users: UsersService;
  tenants: TenantsService;
  codec: IdentityCodec;
  upstreams: Record<UpstreamName, UpstreamClient>;
  queues: Bull.Queue[];
  /** The `platform` tenant and its admin as bootstrapped at start. */
  platform: { tenantId: string; adminUserId: string };
  /** True once graceful shutdown has begun (readiness then answers 503). */
  isShuttingDown: () => boolean;
  setShuttingDown: () => void;
  /** Closes pools, clients and queues. */
  close(): Promise<void>;
}

/** Knobs tests turn (production uses the defaults). */
export interface DepsOptions {
  logger?: Logger;
  /** Password hashing cost; default scrypt N=16384. */
  scrypt?: ScryptParams;
  /** Revocation mirror resync interval in ms; default 5000. */
  mirrorSyncMs?: number;
  /** Show the bull queues on `/admin/queues`; default true. */
  queues?: boolean;
  /** Service name in logs and metrics; default `gateway`. */
  service?: string;
}

function signingKeys(config: Config): SigningKeys {
  if (config.JWT_ALGORITHM === 'RS256') {
    return {
      algorithm: 'RS256',
      privateKey: config.JWT_PRIVATE_KEY ?? '',
      publicKey: config.JWT_PUBLIC_KEY ?? '',
    };
  }
  return { algorithm: 'HS256', secret: config.JWT_SECRET ?? '' };
}

function waitForRedis(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * Builds pools, Redis clients, services and upstream clients; runs migrations when `MIGRATE_ON_START`; makes
 * sure the platform admin exists. Redis being down at start is not fatal (the gateway serves degraded);
 * PostgreSQL being down is.
 * @throws when the database is unreachable or migrations fail.
 */
export async function createDeps(config: Config, options: DepsOptions = {}): Promise<GatewayDeps> {
  const service = options.service ?? 'gateway';
  const logger =
    options.logger ??
    createLogger({
      service,
      level: config.LOG_LEVEL,
      context: () => {
        const fields = currentRequestFields();
        return fields ? { ...fields } : undefined;
      },
    });
  const metrics = createMetrics({ service });

  if (config.MIGRATE_ON_START && config.DATABASE_OWNER_URL) {
    const owner = knexFactory({
      client: 'pg',
      connection: config.DATABASE_OWNER_URL,
      pool: { min: 0, max: 2 },
    });
    try {
      const ran = await migrate(owner);
      if (ran.length) logger.info('migrations applied', { ran });
    } finally {
      await owner.destroy();
    }
  }

  const pgConnection = (url: string) => ({
    connectionString: url,
    statement_timeout: config.DB_STATEMENT_TIMEOUT_MS,
    application_name: service,
  });
  // knex logs pool and connection trouble to the console by default; keep it in our structured log.
  const log = {
    warn: (message: unknown) => logger.warn('knex', { detail: String(message) }),
    error: (message: unknown) => logger.error('knex', { detail: String(message) }),
    deprecate: (message: unknown) => logger.warn('knex deprecation', { detail: String(message) }),
    debug: () => undefined,
  };
  const knex = knexFactory({
    client: 'pg',
    connection: pgConnection(config.DATABASE_URL),
    pool: { min: 0, max: config.DB_POOL_MAX },
    acquireConnectionTimeout: 5000,
    log,
  });
  const system = knexFactory({
    client: 'pg',
    connection: pgConnection(config.DATABASE_SYSTEM_URL),
    pool: { min: 0, max: 5 },
    acquireConnectionTimeout: 5000,
    log,
  });

  const redisOptions = {
    enableOfflineQueue: false,
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
  // Auto-pipelining sends the revocation check and the rate-limit scripts of concurrent requests in one write.
  const redis = new Redis(config.REDIS_URL, {
    ...redisOptions,
    enableAutoPipelining: true,
    connectionName: `${service}-cmd`,
  });
  const subscriber = new Redis(config.REDIS_URL, {
    connectionName: `${service}-sub`,
    autoResubscribe: true,
    maxRetriesPerRequest: null,
    retryStrategy: redisOptions.retryStrategy,
  });
  for (const client of [redis, subscriber]) {
    // ioredis reports each failed reconnect; keep one line per state change instead of a flood.
    let down = false;
    client.on('error', (err: unknown) => {
      if (!down) logger.warn('redis connection failed', errorFields(err));
      down = true;
    });
    client.on('ready', () => {
      if (down) logger.info('redis connection restored');
      down = false;
    });
  }
  if (!(await waitForRedis(redis, 3000))) logger.warn('redis is not reachable at start; serving degraded');

  const authEvents = metrics.counter('gateway_auth_events_total', 'Login/refresh/logout outcomes', [
    'event',
    'outcome',
  ] as const);
  const upstreamDuration = metrics.histogram(
    'gateway_upstream_request_duration_seconds',
    'Time to the upstream response head',
    ['upstream', 'outcome'] as const,
  );
  const breakerGauge = metrics.gauge(
    'gateway_circuit_state',
    'Upstream circuit: 0 closed, 1 half-open, 2 open',
    ['upstream'] as const,
  );

  const passwords = createPasswordHasher(options.scrypt);
  const tokens = createTokenService({
    keys: signingKeys(config),
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    accessTtlS: config.ACCESS_TOKEN_TTL_S,
    refreshTtlS: config.REFRESH_TOKEN_TTL_S,
  });
  const sessions = createSessionStore({
    redis,
    subscriber,
    prefix: config.REDIS_KEY_PREFIX,
    accessTtlS: config.ACCESS_TOKEN_TTL_S,
    refreshTtlS: config.REFRESH_TOKEN_TTL_S,
    logger,
    ...(options.mirrorSyncMs ? { syncIntervalMs: options.mirrorSyncMs } : {}),
  });
  await sessions.start();
  const directory = createSystemDirectory(system);
  const identity = createIdentityResolver({ knex, sessions });
  const auth = createAuthService({
    directory,
    passwords,
    sessions,
    tokens,
    identity,
    onOutcome: (event, outcome) => authEvents.inc({ event, outcome }),
  });
  const users = createUsersService({ knex, passwords, sessions, identity, logger });
  const tenants = createTenantsService({ directory, passwords });
  const codec = createIdentityCodec({ secret: config.INTERNAL_SECRET });

  const upstream = (name: UpstreamName, baseUrl: string) => {
    breakerGauge.set({ upstream: name }, 0);
    return createUpstreamClient({
      name,
      baseUrl,
      timeoutMs: config.UPSTREAM_TIMEOUT_MS,
      breaker: {
        failureThreshold: config.BREAKER_FAILURE_THRESHOLD,
        openMs: config.BREAKER_OPEN_MS,
        onStateChange: (state) => {
          breakerGauge.set({ upstream: name }, STATE_VALUE[state]);
          logger.warn('upstream circuit changed', { upstream: name, state });
        },
      },
      onAttempt: (outcome, seconds) => upstreamDuration.observe({ upstream: name, outcome }, seconds),
    });
  };
  const upstreams: Record<UpstreamName, UpstreamClient> = {
    inventory: upstream('inventory', config.INVENTORY_URL),
    accounting: upstream('accounting', config.ACCOUNTING_URL),
    worker: upstream('worker', config.WORKER_URL),
  };

  const generated = config.PLATFORM_ADMIN_PASSWORD ? undefined : randomBytes(12).toString('base64url');
  const admin = await directory.ensurePlatformAdmin({
    slug: PLATFORM_TENANT_SLUG,
    email: config.PLATFORM_ADMIN_EMAIL,
    passwordHash: await passwords.hash(config.PLATFORM_ADMIN_PASSWORD ?? generated!),
    resetPassword: config.PLATFORM_ADMIN_PASSWORD !== undefined,
  });
  if (admin.created && generated) {
    logger.warn(
      'platform admin created with a generated password (set PLATFORM_ADMIN_PASSWORD to choose one)',
      {
        email: config.PLATFORM_ADMIN_EMAIL,
        password: generated,
      },
    );
  }

  const queues =
    options.queues === false
      ? []
      : QUEUE_NAMES.map(
          (name) =>
            new Bull(name, config.REDIS_URL, {
              redis: { maxRetriesPerRequest: null, enableReadyCheck: false },
            }),
        );
  for (const q of queues) q.on('error', () => undefined);

  let shuttingDown = false;
  let closed: Promise<void> | undefined;
  return {
    config,
    logger,
    metrics,
    knex,
    system,
    redis,
    directory,
    passwords,
    tokens,
    sessions,
    identity,
    auth,
    users,
    tenants,
    codec,
    upstreams,
    queues,
    platform: { tenantId: admin.tenantId, adminUserId: admin.userId },
    isShuttingDown: () => shuttingDown,
    setShuttingDown: () => {
      shuttingDown = true;
    },
    close() {
      closed ??= (async () => {
        await sessions.stop();
        await Promise.allSettled(queues.map((q) => q.close()));
        for (const u of Object.values(upstreams)) u.close();
        redis.disconnect();
        subscriber.disconnect();
        await Promise.allSettled([knex.destroy(), system.destroy()]);
      })();
      return closed;
    },
  };
}
