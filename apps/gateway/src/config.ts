import { env } from '@kv/config';
import { z } from 'zod';

const pgUrl = () => env.url(['postgres', 'postgresql']);
const httpUrl = (def: string) => env.url(['http']).default(def);
/** PEM text; `\n` escapes are accepted so a key fits in one environment line. */
const pem = () => z.string().transform((v) => v.replace(/\\n/g, '\n'));

/**
 * The gateway's environment. Parsed once in `main.ts` with `loadConfig`; a bad or missing variable stops
 * start-up naming it (never echoing its value).
 */
export const configSchema = z
  .object({
    /** HTTP port; default 8080. */
    PORT: env.port(8080),
    LOG_LEVEL: env.logLevel(),
    /** Request traffic as `kv_app` (row-level security applies). */
    DATABASE_URL: pgUrl(),
    /** Table owner `kv_owner`; only used to run migrations at start. Required when `MIGRATE_ON_START`. */
    DATABASE_OWNER_URL: pgUrl().optional(),
    /** `kv_system`: login lookup by slug + email, tenant provisioning, platform admin bootstrap. */
    DATABASE_SYSTEM_URL: pgUrl(),
    /** Run migrations (as the owner) before serving; default true. */
    MIGRATE_ON_START: env.bool(true),
    /** Connections of the `kv_app` pool; default 20. */
    DB_POOL_MAX: env.int(20, 1, 500),
    /** Server-side statement timeout in ms; default 10000. */
    DB_STATEMENT_TIMEOUT_MS: env.int(10_000, 100, 600_000),
    /** Sessions, revocations, rate limits and the queue dashboard. */
    REDIS_URL: env.url(['redis', 'rediss']),
    /** Prefix of the gateway's Redis keys (sessions, revocations, rate limits); default `kv:gw:`. */
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_-]{1,40}$/)
      .default('kv:gw:'),
    /** Redis command timeout in ms (a dead Redis fails fast); default 500. */
    REDIS_COMMAND_TIMEOUT_MS: env.int(500, 50, 10_000),
    /** Signs the identity forwarded to services in `x-kv-identity` (>= 32 chars). */
    INTERNAL_SECRET: z.string().min(32),
    /** `HS256` (shared `JWT_SECRET`, default) or `RS256` (`JWT_PRIVATE_KEY` + `JWT_PUBLIC_KEY`). */
    JWT_ALGORITHM: z.enum(['HS256', 'RS256']).default('HS256'),
    /** HS256 secret (>= 32 chars), the same on every gateway instance. */
    JWT_SECRET: z.string().min(32).optional(),
    /** RS256 private key (PEM). */
    JWT_PRIVATE_KEY: pem().optional(),
    /** RS256 public key (PEM). */
    JWT_PUBLIC_KEY: pem().optional(),
    /** `iss` of issued tokens (checked on every request); default `kv-erp`. */
    JWT_ISSUER: z.string().min(1).default('kv-erp'),
    /** `aud` of issued tokens (checked on every request); default `kv-erp-api`. */
    JWT_AUDIENCE: z.string().min(1).default('kv-erp-api'),
    /** Access token lifetime in seconds: 10..900 (the contract caps it at 15 min); default 900. */
    ACCESS_TOKEN_TTL_S: env.int(900, 10, 900),
    /** Refresh token lifetime in seconds; default 1 209 600 (14 days). */
    REFRESH_TOKEN_TTL_S: env.int(1_209_600, 60, 31_536_000),
    /** Unauthenticated requests per client IP per minute; default 60. */
    RATE_LIMIT_IP_PER_MIN: env.int(60, 1),
    /** `POST /v1/auth/login` per client IP per minute (not counted in the IP limit); default 10. */
    RATE_LIMIT_LOGIN_PER_MIN: env.int(10, 1),
    /** Requests per user per minute; default 600. */
    RATE_LIMIT_USER_PER_MIN: env.int(600, 1),
    /** Requests per tenant per minute; default 6000. */
    RATE_LIMIT_TENANT_PER_MIN: env.int(6000, 1),
    /**
     * While Redis is down each instance counts alone and allows `ceil(limit / this)` per window (the expected
     * number of gateway instances); default 3.
     */
    RATE_LIMIT_FALLBACK_DIVISOR: env.int(3, 1, 1000),
    /** Proxies whose `X-Forwarded-For` is believed (IPs or CIDRs); default loopback (the local nginx). */
    TRUSTED_PROXIES: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .default(['127.0.0.1', '::1']),
    /** Email of the platform administrator (tenant `platform`); created at start if missing. */
    PLATFORM_ADMIN_EMAIL: z
      .string()
      .regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address')
      .default('admin@platform.local'),
    /**
     * Its password (>= 10 chars). When set, every start resets the admin's password to it. When unset and the
     * admin does not exist yet, a random one is generated and logged once.
     */
    PLATFORM_ADMIN_PASSWORD: z.string().min(10).max(1000).optional(),
    INVENTORY_URL: httpUrl('http://127.0.0.1:3001'),
    ACCOUNTING_URL: httpUrl('http://127.0.0.1:3002'),
    WORKER_URL: httpUrl('http://127.0.0.1:3003'),
    /** Time an upstream has to send its response head, in ms; default 15000. */
    UPSTREAM_TIMEOUT_MS: env.int(15_000, 100, 300_000),
    /** Consecutive connection failures that open an upstream's circuit; default 5. */
    BREAKER_FAILURE_THRESHOLD: env.int(5, 1, 1000),
    /** How long an open circuit fails fast before a trial request, in ms; default 5000. */
    BREAKER_OPEN_MS: env.int(5000, 100, 600_000),
    /** Origins allowed by CORS (comma list; `*` for any); default none (no CORS headers). */
    CORS_ORIGINS: env.list(),
  })
  .superRefine((c, ctx) => {
    if (c.MIGRATE_ON_START && !c.DATABASE_OWNER_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['DATABASE_OWNER_URL'],
        message: 'required when MIGRATE_ON_START is true',
      });
    }
    if (c.JWT_ALGORITHM === 'HS256' && !c.JWT_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'required for HS256' });
    }
    if (c.JWT_ALGORITHM === 'RS256') {
      if (!c.JWT_PRIVATE_KEY)
        ctx.addIssue({ code: 'custom', path: ['JWT_PRIVATE_KEY'], message: 'required for RS256' });
      if (!c.JWT_PUBLIC_KEY)
        ctx.addIssue({ code: 'custom', path: ['JWT_PUBLIC_KEY'], message: 'required for RS256' });
    }
  });

export type Config = z.infer<typeof configSchema>;
