import { withRequestFields } from '@kv/http';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';
import { runWithContext, type TenantContext } from '@kv/tenant-context';
import type { FailedJobsRepo } from '../data/failed-jobs';
import type { JobData, QueueName, WorkerJob } from '../queues/queues';
import { errorMessage, isPermanent, PermanentError } from './errors';
import type { DoneBatcher } from './done-batcher';
import type { HandlerRegistry } from './handlers';
import type { WorkerMetrics } from './worker-metrics';

/** What the processor needs. */
export interface ProcessorDeps {
  handlers: HandlerRegistry;
  /** Marks outbox rows done (batched). */
  done: DoneBatcher;
  failedJobs: FailedJobsRepo;
  metrics: WorkerMetrics;
  logger: Logger;
  /** Aborted when the worker stops without waiting for active jobs. */
  signal: AbortSignal;
  /** Replica name, part of each attempt's request id. */
  workerId: string;
}

const SAFE_ID = /[^\x21-\x7e]/g;

/** The request id of one attempt: `job:<queue>:<job id>:<attempt>` (printable ASCII, at most 200 chars). */
export function jobRequestId(queue: QueueName, jobId: string, attempt: number): string {
  return `job:${queue}:${jobId}:${attempt}`.replace(SAFE_ID, '_').slice(0, 200);
}

function withoutRetryMarker(data: JobData): Record<string, unknown> {
  const { failedJobId: _ignored, ...rest } = data;
  return rest;
}

function serviceContext(tenantId: string, requestId: string): TenantContext {
  return { tenantId, userId: null, roles: [], permissions: [], attributes: {}, requestId, kind: 'service' };
}

/**
 * The function bull runs for every job of `queue`. Each attempt runs in the job tenant's context
 * (`runWithContext`) with log fields `request_id` and `tenant_id`.
 *
 * Outbox events are confirmed only after their effect: the handler's call succeeded, then `markDone` in the
 * source schema. A crash anywhere before `markDone` leaves the row pending and the relay hands it out again;
 * the consumer's de-duplication by event id makes that harmless.
 *
 * A failing attempt is retried with backoff unless its error is permanent (then the job is discarded at once)
 * or it was the last attempt. Either way the final failure is written to `worker.failed_jobs` *before* bull
 * marks the job failed, so a crash in between loses nothing (the outbox row is still pending anyway).
 */
export function createProcessor(deps: ProcessorDeps, queue: QueueName): (job: WorkerJob) => Promise<unknown> {
  return async (job) => {
    const jobId = String(job.id);
    const attempt = job.attemptsMade + 1;
    const requestId = jobRequestId(queue, jobId, attempt);
    const data = job.data;
    const tenantId = data.tenantId;
    const fields = { request_id: requestId, tenant_id: tenantId };
    return withRequestFields(fields, () =>
      runWithContext(serviceContext(tenantId, requestId), async () => {
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        const labels = { queue, name: job.name };
        try {
          const handler = deps.handlers[job.name];
          if (!handler) throw new PermanentError(`no handler for job ${job.name}`);
          if (typeof tenantId !== 'string' || tenantId.length === 0)
            throw new PermanentError('job without tenant id');
          const result = await handler.run(data, {
            job,
            queue,
            requestId,
            signal: deps.signal,
            logger: deps.logger,
          });
          if (data.eventId && data.source) {
            await deps.done.markDone(data.source, data.eventId);
            if (data.createdAt) {
              const lag = (Date.now() - Date.parse(data.createdAt)) / 1000;
              if (Number.isFinite(lag) && lag >= 0)
                deps.metrics.eventLag.observe({ topic: data.topic ?? 'unknown' }, lag);
            }
          }
          if ((data.deliveries ?? 1) > 1 || data.failedJobId || job.attemptsMade > 0) {
            await deps.failedJobs.resolve(tenantId, queue, jobId);
          }
          deps.metrics.jobDuration.observe({ ...labels, outcome: 'completed' }, seconds());
          deps.metrics.jobs.inc({ ...labels, outcome: 'completed' });
          return result;
        } catch (err) {
          if (deps.signal.aborted) throw err; // shutting down: the job is handed back, not failed
          const permanent = isPermanent(err);
          const attempts = job.opts.attempts ?? 1;
          const final = permanent || attempt >= attempts;
          const message = errorMessage(err);
          if (permanent) await job.discard();
          deps.metrics.jobDuration.observe({ ...labels, outcome: final ? 'failed' : 'retry' }, seconds());
          deps.metrics.jobs.inc({ ...labels, outcome: final ? 'failed' : 'retry' });
          if (!final) {
            deps.metrics.retries.inc(labels);
            deps.logger.warn('job attempt failed; retrying with backoff', {
              queue,
              job_name: job.name,
              job_id: jobId,
              attempt,
              attempts,
              error: message,
            });
          } else {
            deps.metrics.failures.inc({ ...labels, kind: permanent ? 'permanent' : 'transient' });
            deps.logger.error('job failed; recorded in failed_jobs', {
              queue,
              job_name: job.name,
              job_id: jobId,
              attempt,
              permanent,
              ...errorFields(err),
            });
            try {
              await deps.failedJobs.record({
                tenantId,
                queue,
                jobName: job.name,
                jobId,
                payload: withoutRetryMarker(data),
                error: message,
                attempts: attempt,
                parked: permanent,
              });
            } catch (recordErr) {
              // The outbox row stays pending, so the event is handed out again after the relay's timeout.
              deps.logger.error('could not record failed job', { job_id: jobId, ...errorFields(recordErr) });
            }
          }
          throw err instanceof Error ? err : new Error(message);
        }
      }),
    );
  };
}
