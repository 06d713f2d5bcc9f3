import type { Knex } from 'knex';
import { AppError, errors } from '@kv/errors';
import type { FailedJobCursor, FailedJobRow, FailedJobsRepo } from '../data/failed-jobs';
import { QUEUE_NAMES, type JobData, type QueueName, type WorkerQueue } from '../queues/queues';
import { withTimeout } from './timing';

/** A failed job as the admin API shows it (`FailedJob` of @kv/api-contract, plus `status`). */
export interface FailedJobView {
  id: string;
  queue: string;
  job_name: string;
  job_id: string;
  tenant_id: string;
  payload: unknown;
  error: string;
  attempts: number;
  status: FailedJobRow['status'];
  failed_at: string;
  retried_at: string | null;
}

/** Maps a row to its public shape. */
export function toView(row: FailedJobRow): FailedJobView {
  return {
    id: row.id,
    queue: row.queue,
    job_name: row.job_name,
    job_id: row.job_id,
    tenant_id: row.tenant_id,
    payload: row.payload,
    error: row.error,
    attempts: row.attempts,
    status: row.status,
    failed_at: new Date(row.failed_at).toISOString(),
    retried_at: row.retried_at ? new Date(row.retried_at).toISOString() : null,
  };
}

/** Cursor encoding: opaque base64url JSON of the last row's keyset position. */
export function encodeFailedJobCursor(row: FailedJobRow): string {
  return Buffer.from(JSON.stringify({ f: new Date(row.failed_at).toISOString(), i: row.id })).toString(
    'base64url',
  );
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Decodes a cursor; `undefined` when malformed. */
export function decodeFailedJobCursor(cursor: string): FailedJobCursor | undefined {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { f?: unknown; i?: unknown };
    if (typeof v.f !== 'string' || typeof v.i !== 'string' || !UUID_RE.test(v.i)) return undefined;
    const failedAt = new Date(v.f);
    if (Number.isNaN(failedAt.getTime())) return undefined;
    return { failedAt, id: v.i };
  } catch {
    return undefined;
  }
}

/** A page of failed jobs. */
export interface FailedJobPage {
  data: FailedJobView[];
  next_cursor: string | null;
}

/** Newest failures first, `limit` per page. */
export async function listFailedJobs(
  repo: FailedJobsRepo,
  limit: number,
  cursor?: FailedJobCursor,
): Promise<FailedJobPage> {
  const rows = await repo.list(limit + 1, cursor);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    data: page.map(toView),
    next_cursor: rows.length > limit && last ? encodeFailedJobCursor(last) : null,
  };
}

/**
 * Enqueues a failed job again with its job id and payload, and marks it `retried`, in one transaction holding
 * the row lock: two concurrent retries cannot both enqueue, and a failure to enqueue (Redis down) leaves the
 * row untouched. If bull still holds a finished job under that id it is removed first (it would swallow the
 * add); one still waiting or running is left alone.
 * @throws AppError NOT_FOUND for an unknown id; CONFLICT when the job is not in `failed` state
 *   (already retried, or succeeded since); UNAVAILABLE when Redis does not answer.
 */
export async function retryFailedJob(
  knex: Knex,
  repo: FailedJobsRepo,
  queues: Record<QueueName, WorkerQueue>,
  id: string,
): Promise<FailedJobView> {
  return knex.transaction(async (trx) => {
    const row = await repo.lockForRetry(trx, id);
    if (!row) throw errors.notFound('failed job');
    if (row.status !== 'failed') {
      throw errors.conflict(`This job is ${row.status}; only a failed job can be retried.`);
    }
    if (!(QUEUE_NAMES as readonly string[]).includes(row.queue)) {
      throw new AppError('INTERNAL', `Unknown queue ${row.queue}.`);
    }
    const queue = queues[row.queue as QueueName];
    try {
      await withTimeout(
        (async () => {
          const existing = await queue.getJob(row.job_id);
          if (existing) {
            const state = await existing.getState();
            if (state === 'completed' || state === 'failed') await existing.remove();
            else return;
          }
          const data = { ...row.payload, failedJobId: row.id } as unknown as JobData;
          await queue.add(row.job_name, data, { jobId: row.job_id });
        })(),
        3000,
        'queue did not answer within 3000 ms',
      );
    } catch (err) {
      throw errors.unavailable('The queue is unavailable; retry later.', err);
    }
    return toView(await repo.markRetried(trx, id));
  });
}
