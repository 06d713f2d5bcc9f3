import Bull from 'bull';

/** The three priority queues: `high` (postings), `default` (ordinary work), `low` (reports, cleanup). */
export const QUEUE_NAMES = ['high', 'default', 'low'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/** What every job carries. `tenantId` is mandatory: handlers run inside that tenant's context. */
export interface JobData {
  /** Tenant the job works for; the system tenant for system-wide work. */
  tenantId: string;
  /** Outbox event id (also the bull job id) for relayed events. */
  eventId?: string;
  /** Outbox schema the event came from (`inventory`, `accounting`), to mark it done there. */
  source?: string;
  /** Outbox topic, e.g. `inventory.stock_movement`. */
  topic?: string;
  /** The event or job payload. */
  payload: Record<string, unknown>;
  /** When the outbox row was written (ISO), for the end-to-end lag metric. */
  createdAt?: string;
  /** How many times the relay has handed this event out (1 = first delivery). */
  deliveries?: number;
  /** Set when an operator retried a failed job: its `worker.failed_jobs` id. */
  failedJobId?: string;
}

export type WorkerQueue = Bull.Queue<JobData>;
export type WorkerJob = Bull.Job<JobData>;

/** Retry and lock settings of the queues (see README: why they cannot double-process a running job). */
export interface QueueSettings {
  redisUrl: string;
  prefix: string;
  attempts: Record<QueueName, number>;
  backoffBaseMs: number;
  backoffMaxMs: number;
  lockDurationMs: number;
  /** 0 = a quarter of the lock duration. */
  lockRenewMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
}

/** Name of the custom backoff strategy registered on every queue. */
export const BACKOFF_STRATEGY = 'jitteredExponential';

/**
 * Delay in ms before retry number `attemptsMade` (1 = the first retry): `base * 2^(n-1)` capped at `max`,
 * times a random factor in [0.75, 1.25) so that jobs failing together do not retry in lockstep. Each delay
 * is still longer than the previous one (the next minimum 1.5× is above the previous maximum 1.25×).
 */
export function backoffDelay(
  attemptsMade: number,
  baseMs: number,
  maxMs: number,
  random = Math.random(),
): number {
  const n = Math.max(1, attemptsMade);
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(n - 1, 40));
  return Math.max(1, Math.round(raw * (0.75 + 0.5 * random)));
}

/**
 * Creates the three bull queues. Bull creates (and on `close()` quits) its own three connections per queue
 * from `redisUrl`; nothing is handed to it, so nothing is left open after `close()`.
 *
 * Reconnection is capped at 2 s between attempts (bull's default grows to 20 s, which would leave the worker
 * idle long after a Redis restart). Jobs are removed from Redis once finished: completed ones so that an
 * outbox event re-enqueued with the same job id is never swallowed by bull's job-id de-duplication, failed
 * ones because `worker.failed_jobs` holds them (they are recorded before bull moves them).
 */
export function createQueues(s: QueueSettings): Record<QueueName, WorkerQueue> {
  const lockRenewTime = s.lockRenewMs > 0 ? s.lockRenewMs : Math.floor(s.lockDurationMs / 4);
  const make = (name: QueueName): WorkerQueue =>
    new Bull<JobData>(name, s.redisUrl, {
      prefix: s.prefix,
      redis: {
        retryStrategy: (times: number) => Math.min(100 * times, 2000),
        maxRetriesPerRequest: 2,
        connectTimeout: 5000,
      },
      settings: {
        lockDuration: s.lockDurationMs,
        lockRenewTime,
        stalledInterval: s.stalledIntervalMs,
        maxStalledCount: s.maxStalledCount,
        guardInterval: 1000,
        retryProcessDelay: 250,
        backoffStrategies: {
          [BACKOFF_STRATEGY]: (attemptsMade: number) =>
            backoffDelay(attemptsMade, s.backoffBaseMs, s.backoffMaxMs),
        },
      },
      defaultJobOptions: {
        attempts: s.attempts[name],
        backoff: { type: BACKOFF_STRATEGY },
        removeOnComplete: true,
        removeOnFail: true,
      },
    });
  return { high: make('high'), default: make('default'), low: make('low') };
}
