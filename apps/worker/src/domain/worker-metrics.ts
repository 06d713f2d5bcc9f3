import type { Counter, Gauge, Histogram, Metrics } from '@kv/metrics';

/** The worker's own Prometheus series (labels are bounded: queue, job name, outcome, schema). */
export interface WorkerMetrics {
  /** `worker_queue_jobs{queue,state}`: waiting/active/delayed/failed, refreshed by the queue monitor. */
  queueJobs: Gauge<'queue' | 'state'>;
  /** `worker_job_duration_seconds{queue,name,outcome}`: one observation per attempt. */
  jobDuration: Histogram<'queue' | 'name' | 'outcome'>;
  /** `worker_jobs_total{queue,name,outcome}`: completed / retry (attempt failed, will retry) / failed (recorded). */
  jobs: Counter<'queue' | 'name' | 'outcome'>;
  /** `worker_job_retries_total{queue,name}`. */
  retries: Counter<'queue' | 'name'>;
  /** `worker_job_failures_total{queue,name,kind}`: jobs that exhausted retries (kind permanent|transient|stalled). */
  failures: Counter<'queue' | 'name' | 'kind'>;
  /** `worker_jobs_stalled_total{queue}`: jobs recovered from a dead worker. */
  stalled: Counter<'queue'>;
  /** `worker_outbox_relayed_total{schema}`: rows handed to bull (re-deliveries included). */
  relayed: Counter<'schema'>;
  /** `worker_outbox_redelivered_total{schema}`: rows handed out again (their job was lost or is slow). */
  redelivered: Counter<'schema'>;
  /** `worker_outbox_parked_total{schema}`: claimed rows skipped because their job is parked in failed_jobs. */
  parkedSkipped: Counter<'schema'>;
  /** `worker_outbox_unrouted_total{schema}`: events of a topic no consumer subscribes to (acknowledged). */
  unrouted: Counter<'schema'>;
  /** `worker_relay_errors_total{schema}`. */
  relayErrors: Counter<'schema'>;
  /** `worker_outbox_pending{schema}` and age of the oldest pending row in seconds. */
  outboxPending: Gauge<'schema'>;
  outboxOldestPendingSeconds: Gauge<'schema'>;
  /** `worker_redis_data_loss_total`: times the relay found Redis emptied (restart) and redelivered everything. */
  redisDataLoss: Counter<string>;
  /** `worker_event_lag_seconds{topic}`: outbox row written → effect confirmed. */
  eventLag: Histogram<'topic'>;
  /** `worker_postings_total{result}`: accounting answers (posted / nothing / duplicate). */
  postings: Counter<'result'>;
  /** `worker_expiry_leader`: 1 while this replica runs the expiry sweep. */
  expiryLeader: Gauge<string>;
  /** `worker_expiry_runs_total{outcome}` and `worker_reservations_expired_total`. */
  expiryRuns: Counter<'outcome'>;
  reservationsExpired: Counter<string>;
  /** `worker_lock_wait_seconds{name,outcome}`: distributed lock acquisition. */
  lockWait: Histogram<'name' | 'outcome'>;
  /** `worker_lock_lost_total{name}`. */
  lockLost: Counter<'name'>;
}

const LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300];

/** Registers the worker's series on the service registry. */
export function createWorkerMetrics(m: Metrics): WorkerMetrics {
  return {
    queueJobs: m.gauge('worker_queue_jobs', 'Jobs per queue and state (waiting, active, delayed, failed)', [
      'queue',
      'state',
    ]),
    jobDuration: m.histogram('worker_job_duration_seconds', 'Duration of one job attempt', [
      'queue',
      'name',
      'outcome',
    ]),
    jobs: m.counter('worker_jobs_total', 'Job attempts by outcome (completed, retry, failed)', [
      'queue',
      'name',
      'outcome',
    ]),
    retries: m.counter('worker_job_retries_total', 'Failed attempts that will be retried with backoff', [
      'queue',
      'name',
    ]),
    failures: m.counter(
      'worker_job_failures_total',
      'Jobs that exhausted their retries (recorded in failed_jobs)',
      ['queue', 'name', 'kind'],
    ),
    stalled: m.counter(
      'worker_jobs_stalled_total',
      'Jobs taken back from a worker that stopped renewing their lock',
      ['queue'],
    ),
    relayed: m.counter('worker_outbox_relayed_total', 'Outbox rows enqueued', ['schema']),
    redelivered: m.counter('worker_outbox_redelivered_total', 'Outbox rows enqueued again', ['schema']),
    parkedSkipped: m.counter(
      'worker_outbox_parked_total',
      'Claimed outbox rows skipped: parked in failed_jobs',
      ['schema'],
    ),
    unrouted: m.counter('worker_outbox_unrouted_total', 'Outbox rows of a topic without consumer', [
      'schema',
    ]),
    relayErrors: m.counter('worker_relay_errors_total', 'Relay rounds that failed', ['schema']),
    outboxPending: m.gauge('worker_outbox_pending', 'Pending outbox rows', ['schema']),
    outboxOldestPendingSeconds: m.gauge(
      'worker_outbox_oldest_pending_seconds',
      'Age of the oldest pending row',
      ['schema'],
    ),
    redisDataLoss: m.counter(
      'worker_redis_data_loss_total',
      'Times the relay found no sentinel in Redis (first start, or Redis restarted without its data) and redelivered all pending events',
    ),
    eventLag: m.histogram(
      'worker_event_lag_seconds',
      'Outbox row written until its effect was confirmed',
      ['topic'],
      LAG_BUCKETS,
    ),
    postings: m.counter('worker_postings_total', 'Stock movement postings by accounting answer', ['result']),
    expiryLeader: m.gauge('worker_expiry_leader', '1 while this replica runs the reservation expiry sweep'),
    expiryRuns: m.counter('worker_expiry_runs_total', 'Reservation expiry sweeps by outcome', ['outcome']),
    reservationsExpired: m.counter(
      'worker_reservations_expired_total',
      'Reservations released by the expiry sweep',
    ),
    lockWait: m.histogram('worker_lock_wait_seconds', 'Distributed lock acquisition wait', [
      'name',
      'outcome',
    ]),
    lockLost: m.counter('worker_lock_lost_total', 'Leases lost while held', ['name']),
  };
}
