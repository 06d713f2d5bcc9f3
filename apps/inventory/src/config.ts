import { env } from '@kv/config';
import { z } from 'zod';

const pgUrl = () => env.url(['postgres', 'postgresql']);

/**
 * The inventory service's environment. Parsed once in `main.ts` with `loadConfig`; a bad or missing variable
 * stops start-up naming it. Inventory needs no Redis: stock correctness lives in PostgreSQL.
 */
export const configSchema = z
  .object({
    /** HTTP port; default 3001. */
    PORT: env.port(3001),
    LOG_LEVEL: env.logLevel(),
    /** Request traffic, as the non-owner role `kv_app` (row-level security applies). */
    DATABASE_URL: pgUrl(),
    /** Table owner `kv_owner`; only used to run migrations at start. Required when `MIGRATE_ON_START`. */
    DATABASE_OWNER_URL: pgUrl().optional(),
    /** `kv_system` (BYPASSRLS, narrow grants): the reservation expiry sweep. */
    DATABASE_SYSTEM_URL: pgUrl(),
    /** Read replicas (comma list, optional) for plain reads. */
    DATABASE_REPLICA_URLS: env.list(),
    /** Verifies the identity the gateway/worker forwards in `x-kv-identity` (>= 32 chars). */
    INTERNAL_SECRET: z.string().min(32),
    /** Run migrations (as the owner) before serving; default true. */
    MIGRATE_ON_START: env.bool(true),
    /** Connections per pool (writer and each replica); default 20. */
    DB_POOL_MAX: env.int(20, 1, 500),
    /** Server-side statement timeout in ms; default 15000. */
    DB_STATEMENT_TIMEOUT_MS: env.int(15_000, 100, 600_000),
  })
  .superRefine((c, ctx) => {
    if (c.MIGRATE_ON_START && !c.DATABASE_OWNER_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['DATABASE_OWNER_URL'],
        message: 'required when MIGRATE_ON_START is true',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
