import type { Counter, Gauge, Histogram, Metrics } from '@kv/metrics';
import type { LockMetrics } from '@kv/distributed-lock';

/** The service's own series. */
export interface AppMetrics {
  /** `accounting_journal_entries_posted_total{kind}`: manual, reversal, stock_movement. */
  entriesPosted: Counter<'kind'>;
  /** `accounting_stock_events_total{result}`: posted, nothing_to_post, duplicate. */
  stockEvents: Counter<'result'>;
  /** `accounting_period_closes_total{result}`: closed (also already closed). */
  periodCloses: Counter<'result'>;
  /** `accounting_lock_wait_seconds{lock,outcome}`: time to get (or give up on) a distributed lock. */
  lockWait: Histogram<'lock' | 'outcome'>;
  /** `accounting_locks_lost_total{lock}`: leases lost while held. */
  locksLost: Counter<'lock'>;
  /** `accounting_read_routing_total{decision}`: where reads went (replica or primary, and why). */
  readRouting: Counter<'decision'>;
  /** `accounting_transactions_in_flight`: units of work running (waiting for a connection included). */
  registerInFlight(read: () => number): void;
  /** Hooks for the lock manager. */
  lockHooks: LockMetrics;
}

/** Registers the service's series on `metrics`. */
export function createAppMetrics(metrics: Metrics): AppMetrics {
  const lockWait = metrics.histogram('accounting_lock_wait_seconds', 'Time to acquire a distributed lock', [
    'lock',
    'outcome',
  ]);
  const locksLost = metrics.counter(
    'accounting_locks_lost_total',
    'Distributed lock leases lost while held',
    ['lock'],
  );
  return {
    entriesPosted: metrics.counter('accounting_journal_entries_posted_total', 'Journal entries posted', [
      'kind',
    ]),
    stockEvents: metrics.counter('accounting_stock_events_total', 'Stock movement events consumed', [
      'result',
    ]),
    periodCloses: metrics.counter('accounting_period_closes_total', 'Period close requests answered', [
      'result',
    ]),
    lockWait,
    locksLost,
    readRouting: metrics.counter('accounting_read_routing_total', 'Read routing decisions', ['decision']),
    registerInFlight(read) {
      const gauge: Gauge<string> = metrics.gauge(
        'accounting_transactions_in_flight',
        'Database units of work running',
        [],
        () => {
          gauge.set(read());
        },
      );
    },
    lockHooks: {
      acquired: (e) => lockWait.observe({ lock: e.name, outcome: 'acquired' }, e.waitedMs / 1000),
      busy: (e) => lockWait.observe({ lock: e.name, outcome: 'busy' }, e.waitedMs / 1000),
      failed: (e) => lockWait.observe({ lock: e.name, outcome: 'failed' }, e.waitedMs / 1000),
      lost: (e) => locksLost.inc({ lock: e.name }),
    },
  };
}
