import type { Knex } from 'knex';
import { T } from './schema';

/** One row of `worker.failed_jobs`. */
export interface FailedJobRow {
  id: string;
  tenant_id: string;
  queue: string;
  job_name: string;
  job_id: string;
  payload: Record<string, unknown>;
  error: string;
  attempts: number;
  status: 'failed' | 'retried' | 'resolved';
  parked: boolean;
  failure_count: number;
  retry_count: number;
  failed_at: Date;
  retried_at: Date | null;
  resolved_at: Date | null;
  created_at: Date;
}

/** What is recorded when a job exhausts its retries. */
export interface FailureInput {
  tenantId: string;
  queue: string;
  jobName: string;
  jobId: string;
  payload: Record<string, unknown>;
  error: string;
  /** Attempts made in this round. */
  attempts: number;
  /** A permanent failure: the relay does not redeliver the event until an operator retries it. */
  parked: boolean;
}

/** Keyset position of the admin listing (newest failure first). */
export interface FailedJobCursor {
  failedAt: Date;
  id: string;
}

/** Repository of `worker.failed_jobs` (system role; no row-level security on this admin table). */
export interface FailedJobsRepo {
  /** Inserts, or updates the row of the same (tenant, queue, job id) back to `failed`. Returns the row id. */
  record(input: FailureInput): Promise<string>;
  /** Newest failures first, after `cursor`. */
  list(limit: number, cursor?: FailedJobCursor): Promise<FailedJobRow[]>;
  /** Locks the row (`FOR UPDATE`) inside `trx`; `undefined` when unknown. */
  lockForRetry(trx: Knex.Transaction, id: string): Promise<FailedJobRow | undefined>;
  /** Marks a row retried (inside the retry transaction). */
  markRetried(trx: Knex.Transaction, id: string): Promise<FailedJobRow>;
  /** A later attempt succeeded: marks open rows of this job resolved. Returns how many changed. */
  resolve(tenantId: string, queue: string, jobId: string): Promise<number>;
  /** Which of these job ids are parked (failed permanently, not retried yet). */
  parkedAmong(jobIds: string[]): Promise<Set<string>>;
  /** Deletes resolved rows resolved more than `days` days ago. */
  purgeResolved(days: number): Promise<number>;
}

const COLUMNS = [
  'id',
  'tenant_id',
  'queue',
  'job_name',
  'job_id',
  'payload',
  'error',
  'attempts',
  'status',
  'parked',
  'failure_count',
  'retry_count',
  'failed_at',
  'retried_at',
  'resolved_at',
  'created_at',
] as const;

/** Creates the repository over the system pool. */
export function createFailedJobsRepo(knex: Knex): FailedJobsRepo {
  return {
    async record(input) {
      const { rows } = await knex.raw<{ rows: { id: string }[] }>(
        `INSERT INTO ${T.failedJobs} AS f (tenant_id, queue, job_name, job_id, payload, error, attempts, parked)
         VALUES (?, ?, ?, ?, ?::jsonb, ?, ?, ?)
         ON CONFLICT (tenant_id, queue, job_id) DO UPDATE SET
           job_name = EXCLUDED.job_name,
           payload = EXCLUDED.payload,
           error = EXCLUDED.error,
           attempts = f.attempts + EXCLUDED.attempts,
           parked = EXCLUDED.parked,
           status = 'failed',
           failure_count = f.failure_count + 1,
           failed_at = date_trunc('milliseconds', now()),
           resolved_at = NULL
         RETURNING id`,
        [
          input.tenantId,
          input.queue,
          input.jobName,
          input.jobId,
          JSON.stringify(input.payload),
          input.error,
          input.attempts,
          input.parked,
        ],
      );
      return rows[0]!.id;
    },

    async list(limit, cursor) {
      const q = knex(T.failedJobs)
        .select(COLUMNS)
        .orderBy([
          { column: 'failed_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(limit);
      if (cursor) q.whereRaw('(failed_at, id) < (?, ?)', [cursor.failedAt, cursor.id]);
      return (await q) as FailedJobRow[];
    },

    async lockForRetry(trx, id) {
      return (await trx(T.failedJobs).select(COLUMNS).where({ id }).forUpdate().first()) as
        FailedJobRow | undefined;
    },

    async markRetried(trx, id) {
      const { rows } = await trx.raw<{ rows: FailedJobRow[] }>(
        `UPDATE ${T.failedJobs}
            SET status = 'retried', parked = false, retried_at = date_trunc('milliseconds', now()),
                retry_count = retry_count + 1
          WHERE id = ?
          RETURNING ${COLUMNS.join(', ')}`,
        [id],
      );
      return rows[0]!;
    },

    async resolve(tenantId, queue, jobId) {
      return knex(T.failedJobs)
        .where({ tenant_id: tenantId, queue, job_id: jobId })
        .whereIn('status', ['failed', 'retried'])
        .update({ status: 'resolved', parked: false, resolved_at: knex.raw('now()') });
    },

    async parkedAmong(jobIds) {
      if (jobIds.length === 0) return new Set();
      const { rows } = await knex.raw<{ rows: { job_id: string }[] }>(
        `SELECT job_id FROM ${T.failedJobs} WHERE job_id = ANY(?::text[]) AND status = 'failed' AND parked`,
        [jobIds],
      );
      return new Set(rows.map((r) => r.job_id));
    },

    async purgeResolved(days) {
      return knex(T.failedJobs)
        .where({ status: 'resolved' })
        .andWhereRaw(`resolved_at < now() - make_interval(days => ?)`, [days])
        .delete();
    },
  };
}
