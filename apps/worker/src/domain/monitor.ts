import type { Knex } from 'knex';
import type { Logger } from '@kv/logger';
import { outboxStats, type OutboxStats } from '@kv/outbox';
import { QUEUE_NAMES, type QueueName, type WorkerQueue } from '../queues/queues';
import { withTimeout } from './timing';
import type { WorkerMetrics } from './worker-metrics';

/** Depth of one queue. */
export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/** Options of {@link createMonitor}. */
export interface MonitorOptions {
  queues: Record<QueueName, WorkerQueue>;
  systemKnex: Knex;
  schemas: string[];
  metrics: WorkerMetrics;
  logger: Logger;
  /** Refresh period of the gauges, in ms. Default 1000 (outbox stats every 5th time). */
  intervalMs?: number;
}

/** Reads queue depth and outbox backlog, for the Prometheus gauges and `/health/ready`. */
export interface Monitor {
  start(): void;
  stop(): void;
  /** Current depth of every queue (fails when Redis does not answer within 1 s). */
  queueDepths(): Promise<Record<QueueName, QueueDepth>>;
  /** Pending rows and oldest pending age per schema; schemas without an outbox table are left out. */
  outbox(): Promise<Record<string, OutboxStats>>;
}

/** Creates the monitor; `start()` refreshes the gauges periodically. */
export function createMonitor(o: MonitorOptions): Monitor {
  let timer: NodeJS.Timeout | undefined;
  let ticks = 0;

  async function queueDepths(): Promise<Record<QueueName, QueueDepth>> {
    const counts = await withTimeout(
      Promise.all(QUEUE_NAMES.map((q) => o.queues[q].getJobCounts())),
      1000,
      'redis did not answer within 1000 ms',
    );
    const out = {} as Record<QueueName, QueueDepth>;
    QUEUE_NAMES.forEach((q, i) => {
      const c = counts[i]!;
      out[q] = { waiting: c.waiting, active: c.active, delayed: c.delayed, failed: c.failed };
    });
    return out;
  }

  async function outbox(): Promise<Record<string, OutboxStats>> {
    const out: Record<string, OutboxStats> = {};
    for (const schema of o.schemas) {
      try {
        out[schema] = await outboxStats(o.systemKnex, schema);
      } catch (err) {
        if ((err as { code?: unknown }).code !== '42P01') throw err;
      }
    }
    return out;
  }

  async function refresh(): Promise<void> {
    const depths = await queueDepths();
    for (const q of QUEUE_NAMES) {
      for (const state of ['waiting', 'active', 'delayed', 'failed'] as const) {
        o.metrics.queueJobs.set({ queue: q, state }, depths[q][state]);
      }
    }
  }

  async function refreshOutbox(): Promise<void> {
    for (const [schema, s] of Object.entries(await outbox())) {
      o.metrics.outboxPending.set({ schema }, s.pending);
      o.metrics.outboxOldestPendingSeconds.set({ schema }, s.oldestPendingAgeS);
    }
  }

  return {
    start() {
      if (timer) return;
      timer = setInterval(() => {
        ticks += 1;
        refresh().catch(() => undefined);
        if (ticks % 5 === 1) refreshOutbox().catch(() => undefined);
      }, o.intervalMs ?? 1000);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
    queueDepths,
    outbox,
  };
}
