import type { Knex } from 'knex';
import { createFencingTable } from '@kv/distributed-lock';
import { SCHEMA, SYSTEM_ROLE, T } from '../data/schema';

/**
 * `worker.failed_jobs`: jobs that exhausted their retries, one row per (tenant, queue, job id), updated when
 * the same job fails again. An admin-only system table read and written by the system role across tenants,
 * so no row-level security; `tenant_id` still leads its keys like every table's. Timestamps are truncated
 * to milliseconds so keyset cursors built from JavaScript dates compare exactly.
 *
 * `status`: `failed` (waiting for an operator), `retried` (enqueued again through the admin API),
 * `resolved` (a later attempt succeeded). `parked` rows (a permanent error) are not redelivered by the
 * outbox relay until retried; the others are (their cause was transient).
 *
 * Also the distributed-lock fencing counter (`worker.lock_fencing`) of the expiry singleton.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${T.failedJobs} (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      queue text NOT NULL,
      job_name text NOT NULL,
      job_id text NOT NULL,
      payload jsonb NOT NULL,
      error text NOT NULL,
      attempts integer NOT NULL,
      status text NOT NULL DEFAULT 'failed',
      parked boolean NOT NULL DEFAULT false,
      failure_count integer NOT NULL DEFAULT 1,
      retry_count integer NOT NULL DEFAULT 0,
      failed_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
      retried_at timestamptz,
      resolved_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT failed_jobs_id_unique UNIQUE (id),
      CONSTRAINT failed_jobs_job_unique UNIQUE (tenant_id, queue, job_id),
      CONSTRAINT failed_jobs_status CHECK (status IN ('failed', 'retried', 'resolved'))
    )`);
  // Admin listing across tenants, newest failure first (keyset on failed_at, id).
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS failed_jobs_by_failed_at ON ${T.failedJobs} (failed_at DESC, id DESC)`,
  );
  // The relay asks "is this event parked?" by job id only (it knows no queue for a row it cannot route).
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS failed_jobs_parked ON ${T.failedJobs} (job_id) WHERE status = 'failed' AND parked`,
  );
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS failed_jobs_open ON ${T.failedJobs} (job_id) WHERE status <> 'resolved'`,
  );
  await knex.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${T.failedJobs} TO ${SYSTEM_ROLE}`);
  await createFencingTable(knex, SCHEMA, { grantTo: SYSTEM_ROLE });
}
