/** The worker's PostgreSQL schema (failed jobs, lock fencing counters). */
export const SCHEMA = 'worker';
/** BYPASSRLS role the worker runs as: outbox relay, cleanup, failed jobs. Only narrow grants. */
export const SYSTEM_ROLE = 'kv_system';
/** Tenant id of system-wide work (no single tenant), agreed across services. */
export const SYSTEM_TENANT_ID = '00000000-0000-0000-0000-000000000000';

/** Qualified table names. */
export const T = {
  failedJobs: `${SCHEMA}.failed_jobs`,
} as const;
