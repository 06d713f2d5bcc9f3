import { env } from '@kv/config';
import { z } from 'zod';

const pgUrl = () => env.url(['postgres', 'postgresql']);
const httpUrl = () => env.url(['http', 'https']);

/**
 * The worker's environment. Parsed once in `main.ts` with `loadConfig`; a bad or missing variable stops
 * start-up naming it (never its value). Durations are in milliseconds unless the name says otherwise.
 */
export const configSchema = z
  .object({
    /** HTTP port of the health/metrics/admin server; default 3003. */
    PORT: env.port(3003),
    LOG_LEVEL: env.logLevel(),
    /**
     * `kv_system` (BYPASSRLS, narrow grants): the outbox relay (`claimPending`/`markDone` in the services'
     * schemas), the cleanup jobs, `worker.failed_jobs` and the lock fencing counter. The worker serves no
     * tenant request, so it needs no `kv_app` pool (`DATABASE_URL` is accepted and ignored).
     */
    DATABASE_SYSTEM_URL: pgUrl(),
    /** Table owner `kv_owner`; only used to run migrations at start. Required when `MIGRATE_ON_START`. */
    DATABASE_OWNER_URL: pgUrl().optional(),
    /** Run migrations (as the owner) before starting; default true. */
    MIGRATE_ON_START: env.bool(true),
    /** Connections in the system pool; default 20. */
    DB_POOL_MAX: env.int(20, 2, 500),
    /** Server-side statement timeout in ms; default 15000. */
    DB_STATEMENT_TIMEOUT_MS: env.int(15_000, 100, 600_000),
    /** Redis of the queues and locks. */
    REDIS_URL: env.url(['redis', 'rediss']),
    /** Signs the worker's service identity (`x-kv-identity`) and verifies the gateway's (>= 32 chars). */
    INTERNAL_SECRET: z.string().min(32),
    INVENTORY_URL: httpUrl(),
    ACCOUNTING_URL: httpUrl(),
    /** Timeout of one call to a service's internal endpoint; default 10000 (must stay below the lock duration). */
    HTTP_TIMEOUT_MS: env.int(10_000, 100, 120_000),

    /** Bull key prefix (the gateway's bull-board must use the same); default `bull`. */
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9:_{}.-]{1,64}$/)
      .default('bull'),
    /** Jobs processed at once per queue and process. */
    QUEUE_HIGH_CONCURRENCY: env.int(32, 1, 1000),
    QUEUE_DEFAULT_CONCURRENCY: env.int(8, 1, 1000),
    QUEUE_LOW_CONCURRENCY: env.int(2, 1, 1000),
    /** Attempts (first run included) before a job is recorded in `worker.failed_jobs`; defaults 3/3/5. */
    QUEUE_HIGH_ATTEMPTS: env.int(3, 1, 100),
    QUEUE_DEFAULT_ATTEMPTS: env.int(3, 1, 100),
    QUEUE_LOW_ATTEMPTS: env.int(5, 1, 100),
    /** Exponential backoff: the n-th retry waits `base * 2^(n-1)` ms (capped), then ±25 % jitter. */
    QUEUE_BACKOFF_BASE_MS: env.int(1_000, 1, 3_600_000),
    QUEUE_BACKOFF_MAX_MS: env.int(60_000, 1, 86_400_000),
    /** Job lock TTL; renewed every `QUEUE_LOCK_RENEW_MS` while the job runs. Default 30000. */
    QUEUE_LOCK_DURATION_MS: env.int(30_000, 500, 600_000),
    /** Lock renewal period; default a quarter of the lock duration. */
    QUEUE_LOCK_RENEW_MS: env.int(0, 0, 600_000),
    /** How often active jobs whose lock expired (their worker died) are moved back to wait; default 30000. */
    QUEUE_STALLED_INTERVAL_MS: env.int(30_000, 100, 600_000),
    /** How often one job may be recovered from a dead worker before it counts as failed; default 3. */
    QUEUE_MAX_STALLED_COUNT: env.int(3, 0, 100),
    /** Waiting + delayed jobs of one queue above this make `/health/ready` degraded; default 5000. */
    QUEUE_BACKLOG_THRESHOLD: env.int(5_000, 1, 100_000_000),

    /** Outbox schemas the relay reads (comma list); default `inventory,accounting`. */
    RELAY_SCHEMAS: z
      .string()
      .default('inventory,accounting')
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^[a-z_][a-z0-9_]*$/)).min(1)),
    /** Pause between relay rounds when a round found less than a full batch; default 100. */
    RELAY_INTERVAL_MS: env.int(100, 5, 60_000),
    /** Most rows claimed per schema and round; default 500. */
    RELAY_BATCH: env.int(500, 1, 10_000),
    /** A row still pending this long after it was enqueued is enqueued again (its job was lost); default 30000. */
    RELAY_REDELIVER_AFTER_MS: env.int(30_000, 500, 86_400_000),
    /** Backpressure: no rows are claimed while a fed queue holds this many waiting jobs; default 2000. */
    RELAY_MAX_QUEUED: env.int(2_000, 1, 1_000_000),
    /** Outbox pending older than this (s) makes `/health/ready` degraded; default 60. */
    OUTBOX_LAG_THRESHOLD_S: env.int(60, 1, 86_400),

    /** Run the reservation expiry sweep (singleton across replicas); default true. */
    EXPIRY_ENABLED: env.bool(true),
    /** Pause between two sweeps of the leader; default 1000. */
    EXPIRY_INTERVAL_MS: env.int(1_000, 50, 60_000),
    /** TTL of the expiry leader lease (renewed at half); a dead leader is replaced after at most this. Default 3000. */
    EXPIRY_LOCK_TTL_MS: env.int(3_000, 100, 60_000),

    /** Period of the cleanup jobs (queue `low`); default one hour. */
    CLEANUP_INTERVAL_MS: env.int(3_600_000, 1_000, 86_400_000 * 7),
    /** Done outbox rows are deleted after this many hours; default 72. */
    OUTBOX_RETENTION_HOURS: env.int(72, 1, 24 * 365),
    /** Idempotency keys are deleted after this many hours (the contract keeps them >= 24 h); default 48. */
    IDEMPOTENCY_RETENTION_HOURS: env.int(48, 24, 24 * 365),
    /** Resolved failed jobs are deleted after this many days; default 30. */
    FAILED_JOBS_RETENTION_DAYS: env.int(30, 1, 3650),

    /** How long SIGTERM waits for active jobs before handing them back; default 10000. */
    SHUTDOWN_TIMEOUT_MS: env.int(10_000, 0, 600_000),
    /** Name of this replica in logs and request ids; default host name + pid. */
    WORKER_ID: z
      .string()
      .regex(/^[\x21-\x7e]{1,64}$/)
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.MIGRATE_ON_START && !c.DATABASE_OWNER_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['DATABASE_OWNER_URL'],
        message: 'required when MIGRATE_ON_START is true',
      });
    }
    if (c.HTTP_TIMEOUT_MS >= c.QUEUE_LOCK_DURATION_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['HTTP_TIMEOUT_MS'],
        message: 'must be below QUEUE_LOCK_DURATION_MS',
      });
    }
    if (c.QUEUE_LOCK_RENEW_MS >= c.QUEUE_LOCK_DURATION_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['QUEUE_LOCK_RENEW_MS'],
        message: 'must be below QUEUE_LOCK_DURATION_MS',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
