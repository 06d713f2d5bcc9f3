import { z } from 'zod';
import { env } from '@kv/config';

const pgUrl = () => env.url(['postgres', 'postgresql']);

/** The accounting service's environment (parsed once, in main.ts). */
export const configSchema = z
  .object({
    PORT: env.port(3002),
    LOG_LEVEL: env.logLevel(),
    /** Request role (`kv_app`): owns nothing, row-level security applies. */
    DATABASE_URL: pgUrl(),
    /** Schema owner (`kv_owner`), used only to run migrations at start. */
    DATABASE_OWNER_URL: pgUrl().optional(),
    /** Cross-tenant role (`kv_system`); not needed by request traffic. */
    DATABASE_SYSTEM_URL: pgUrl().optional(),
    /** Streaming replicas for plain reads (comma list, optional). */
    DATABASE_REPLICA_URLS: env.list(),
    /** Connections per pool (writer and each replica); default 10. */
    DB_POOL_MAX: env.int(10, 1, 500),
    /** Server-side statement timeout in ms; default 15000. */
    DB_STATEMENT_TIMEOUT_MS: env.int(15_000, 100, 600_000),
    /** Run migrations (as the owner) before serving; default true. */
    MIGRATE_ON_START: env.bool(true),
    REDIS_URL: env.url(['redis', 'rediss']),
    /** Prefix of every Redis key this service writes (locks, read-your-writes positions). */
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[^{}]*$/, 'must not contain { or }')
      .default('kv:acct:'),
    /** Shared secret (>= 32 chars) verifying the identity the gateway and worker forward. */
    INTERNAL_SECRET: z.string().min(32),
    /** Lease TTL of the period-close lock, in ms (renewed while held). */
    PERIOD_CLOSE_LOCK_TTL_MS: env.int(15_000, 100),
    /** How long a close waits for another close of the same period, in ms. */
    PERIOD_CLOSE_LOCK_WAIT_MS: env.int(15_000, 0),
    /** How long a close waits for in-flight postings of the period, in ms. */
    PERIOD_CLOSE_DRAIN_TIMEOUT_MS: env.int(10_000, 1),
  })
  .refine((c) => !c.MIGRATE_ON_START || c.DATABASE_OWNER_URL !== undefined, {
    message: 'required when MIGRATE_ON_START is true',
    path: ['DATABASE_OWNER_URL'],
  });

/** Parsed configuration. */
export type Config = z.infer<typeof configSchema>;
