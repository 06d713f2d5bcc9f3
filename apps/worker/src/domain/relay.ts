import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';
import { claimPending, markDone, type OutboxRow } from '@kv/outbox';
import type { FailedJobsRepo } from '../data/failed-jobs';
import type { JobData, QueueName, WorkerQueue } from '../queues/queues';
import { TOPIC_ROUTES } from './handlers';
import { sleep, withTimeout } from './timing';
import type { WorkerMetrics } from './worker-metrics';

/** Options of {@link createRelay}. */
export interface RelayOptions {
  systemKnex: Knex;
  queues: Record<QueueName, WorkerQueue>;
  /** The worker's own Redis client (the data-loss sentinel lives there). */
  redis: Redis;
  failedJobs: FailedJobsRepo;
  metrics: WorkerMetrics;
  logger: Logger;
  /** Outbox schemas to read, e.g. `['inventory', 'accounting']`. */
  schemas: string[];
  /** Rows claimed per schema and round. */
  batch: number;
  /** Pause between rounds that found less than a full batch, in ms. */
  intervalMs: number;
  /** A row enqueued this long ago and still pending is enqueued again, in ms. */
  redeliverAfterMs: number;
  /** Key of the Redis data-loss sentinel (under the queue prefix). */
  sentinelKey: string;
  /**
   * Backpressure: while a queue the relay feeds holds this many waiting jobs, no new rows are claimed (they
   * wait in PostgreSQL, where they are safe, instead of in Redis, where they are not). Default 2000.
   */
  maxQueued?: number;
  /** Longest an enqueue may take before the round gives up and releases its claims, in ms. Default 5000. */
  enqueueTimeoutMs?: number;
}

/** The outbox relay loop. */
export interface Relay {
  /** Starts the loop (idempotent). */
  start(): void;
  /** Stops the loop and waits for the round in progress. */
  stop(): Promise<void>;
  /** One round over every schema; returns how many rows were enqueued. For tests and the benchmark. */
  runOnce(): Promise<number>;
}

const SENTINEL_CHECK_MS = 500;

/**
 * Reads committed pending outbox rows (`claimPending`: `FOR UPDATE SKIP LOCKED`, stamps `last_enqueued_at`,
 * so several replicas never hand out the same row in one round) and enqueues each with its event id as
 * the bull job id (bull ignores an add whose id is already queued). A row stays pending until its consumer
 * confirmed the effect (`markDone` in the processor), and is claimed again once `redeliverAfterMs` passed
 * since its last enqueue: jobs lost with Redis, or by a crash between claim and enqueue, come back.
 *
 * Redis here keeps nothing across a restart. To recover at once rather than after the timeout, the relay
 * keeps a sentinel key in Redis; when it is gone, Redis lost its data, and the replica that re-creates it
 * (`SET NX`) clears `last_enqueued_at` of every pending row so the next round enqueues them all again.
 *
 * Rows whose job is parked in `worker.failed_jobs` (a permanent failure, not retried yet) are skipped.
 * Rows of a topic no consumer subscribes to are acknowledged (marked done) and counted.
 */
export function createRelay(o: RelayOptions): Relay {
  const stopController = new AbortController();
  const epoch = randomUUID();
  const enqueueTimeoutMs = o.enqueueTimeoutMs ?? 5000;
  const maxQueued = o.maxQueued ?? 2000;
  const fedQueues = [...new Set(Object.values(TOPIC_ROUTES).map((r) => r.queue))];
  let loop: Promise<void> | undefined;
  let lastSentinelCheck = 0;

  /** Schemas whose pending rows must be handed out again (Redis lost its data); retried until done. */
  const needsReset = new Set<string>();

  async function checkSentinel(): Promise<void> {
    if (Date.now() - lastSentinelCheck < SENTINEL_CHECK_MS) return;
    const present = await o.redis.exists(o.sentinelKey);
    lastSentinelCheck = Date.now();
    if (present) return;
    const created = await o.redis.set(o.sentinelKey, epoch, 'NX');
    if (created !== 'OK') return;
    for (const schema of o.schemas) needsReset.add(schema);
    o.metrics.redisDataLoss.inc();
    o.logger.warn(
      'queue Redis has no sentinel (restarted empty, or first start): pending events are enqueued again',
    );
  }

  async function resetSchema(schema: string): Promise<void> {
    if (!needsReset.has(schema)) return;
    const r = await o.systemKnex.raw<{ rowCount: number }>(
      `UPDATE ${schema}.outbox SET last_enqueued_at = NULL WHERE status = 'pending' AND last_enqueued_at IS NOT NULL`,
    );
    needsReset.delete(schema);
    if (r.rowCount > 0) o.logger.info('pending events handed out again', { schema, count: r.rowCount });
  }

  async function releaseClaims(schema: string, ids: string[]): Promise<void> {
    await o.systemKnex.raw(
      `UPDATE ${schema}.outbox SET last_enqueued_at = NULL WHERE id = ANY(?::uuid[]) AND status = 'pending'`,
      [ids],
    );
  }

  async function relaySchema(schema: string): Promise<{ claimed: number; enqueued: number }> {
    await resetSchema(schema);
    const rows = await claimPending(o.systemKnex, schema, {
      limit: o.batch,
      redeliverAfterMs: o.redeliverAfterMs,
    });
    if (rows.length === 0) return { claimed: 0, enqueued: 0 };
    const again = rows.filter((r) => r.attempts > 1);
    const parked = await o.failedJobs.parkedAmong(again.map((r) => r.id));
    const byQueue = new Map<QueueName, { name: string; data: JobData; opts: { jobId: string } }[]>();
    const unrouted: OutboxRow[] = [];
    for (const row of rows) {
      if (parked.has(row.id)) continue;
      const route = TOPIC_ROUTES[row.topic];
      if (!route) {
        unrouted.push(row);
        continue;
      }
      const data: JobData = {
        tenantId: row.tenant_id,
        eventId: row.id,
        source: schema,
        topic: row.topic,
        payload: row.payload,
        createdAt: new Date(row.created_at).toISOString(),
        deliveries: row.attempts,
      };
      const list = byQueue.get(route.queue) ?? [];
      list.push({ name: route.jobName, data, opts: { jobId: row.id } });
      byQueue.set(route.queue, list);
    }
    let enqueued = 0;
    for (const [queue, jobs] of byQueue) {
      try {
        await withTimeout(o.queues[queue].addBulk(jobs), enqueueTimeoutMs, `enqueue into ${queue} timed out`);
      } catch (err) {
        // Hand the rows back at once instead of after the redelivery timeout.
        await releaseClaims(
          schema,
          jobs.map((j) => j.opts.jobId),
        ).catch(() => undefined);
        throw err;
      }
      enqueued += jobs.length;
    }
    if (unrouted.length > 0) {
      await markDone(
        o.systemKnex,
        schema,
        unrouted.map((r) => r.id),
      );
      o.metrics.unrouted.inc({ schema }, unrouted.length);
      o.logger.warn('outbox events without consumer acknowledged', {
        schema,
        topics: [...new Set(unrouted.map((r) => r.topic))],
        count: unrouted.length,
      });
    }
    if (parked.size > 0) o.metrics.parkedSkipped.inc({ schema }, parked.size);
    const redelivered = again.length - parked.size;
    if (redelivered > 0) o.metrics.redelivered.inc({ schema }, redelivered);
    if (enqueued > 0) o.metrics.relayed.inc({ schema }, enqueued);
    return { claimed: rows.length, enqueued };
  }

  /** Per schema: when to try again after an error, and the last error logged (to keep logs quiet). */
  const backoff = new Map<string, { until: number; message: string; loggedAt: number }>();

  async function round(): Promise<{ enqueued: number; full: boolean }> {
    await checkSentinel();
    const waiting = await withTimeout(
      Promise.all(fedQueues.map((q) => o.queues[q].getWaitingCount())),
      enqueueTimeoutMs,
      'queue length check timed out',
    );
    if (waiting.some((n) => n >= maxQueued)) return { enqueued: 0, full: false };
    let enqueued = 0;
    let full = false;
    for (const schema of o.schemas) {
      const b = backoff.get(schema);
      if (b && Date.now() < b.until) continue;
      try {
        const r = await relaySchema(schema);
        enqueued += r.enqueued;
        if (r.claimed >= o.batch) full = true;
        if (b) {
          backoff.delete(schema);
          o.logger.info('relay recovered', { schema });
        }
      } catch (err) {
        o.metrics.relayErrors.inc({ schema });
        const message = err instanceof Error ? err.message : String(err);
        const now = Date.now();
        const log = !b || b.message !== message || now - b.loggedAt > 30_000;
        if (log) o.logger.warn('relay round failed', { schema, ...errorFields(err) });
        backoff.set(schema, { until: now + 1000, message, loggedAt: log ? now : (b?.loggedAt ?? now) });
      }
    }
    return { enqueued, full };
  }

  async function run(): Promise<void> {
    while (!stopController.signal.aborted) {
      if (o.redis.status !== 'ready') {
        // Connecting or reconnecting: nothing can be enqueued anyway (the health check reports it).
        await sleep(Math.max(o.intervalMs, 200), stopController.signal);
        continue;
      }
      let full = false;
      try {
        full = (await round()).full;
      } catch (err) {
        o.logger.warn('relay round failed', errorFields(err));
        await sleep(Math.max(o.intervalMs, 500), stopController.signal);
      }
      if (!full) await sleep(o.intervalMs, stopController.signal);
    }
  }

  return {
    start() {
      loop ??= run();
    },
    async stop() {
      stopController.abort();
      await loop;
    },
    async runOnce() {
      return (await round()).enqueued;
    },
  };
}
