import type { Knex } from 'knex';
import { markDone } from '@kv/outbox';

/** Options of {@link createDoneBatcher}. */
export interface DoneBatcherOptions {
  systemKnex: Knex;
  /** Most ids per `markDone` statement; default 200. */
  maxBatch?: number;
  /** How long the first id of a batch waits for company, in ms; default 5. */
  maxDelayMs?: number;
}

/** Marks outbox rows done in batches: one UPDATE for many confirmed events. */
export interface DoneBatcher {
  /** Resolves once the row is marked done (durably committed); rejects when that statement failed. */
  markDone(schema: string, id: string): Promise<void>;
  /** Flushes what is pending and waits for it. */
  flush(): Promise<void>;
}

interface Pending {
  ids: string[];
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
  timer: NodeJS.Timeout | undefined;
}

/**
 * Collects the ids confirmed within `maxDelayMs` (or up to `maxBatch`) per schema and marks them done with
 * one statement. Each job still waits for its own row's statement before it completes, so "done in the
 * outbox" still implies "effect confirmed": batching only saves round trips and WAL under load.
 */
export function createDoneBatcher(o: DoneBatcherOptions): DoneBatcher {
  const maxBatch = o.maxBatch ?? 200;
  const maxDelayMs = o.maxDelayMs ?? 5;
  const pending = new Map<string, Pending>();
  const inFlight = new Set<Promise<void>>();

  function flushSchema(schema: string): void {
    const p = pending.get(schema);
    if (!p) return;
    pending.delete(schema);
    clearTimeout(p.timer);
    const run = markDone(o.systemKnex, schema, p.ids).then(
      () => p.waiters.forEach((w) => w.resolve()),
      (err: unknown) => p.waiters.forEach((w) => w.reject(err)),
    );
    inFlight.add(run);
    void run.finally(() => inFlight.delete(run));
  }

  return {
    markDone(schema, id) {
      return new Promise<void>((resolve, reject) => {
        let p = pending.get(schema);
        if (!p) {
          p = { ids: [], waiters: [], timer: undefined };
          pending.set(schema, p);
          p.timer = setTimeout(() => flushSchema(schema), maxDelayMs);
        }
        p.ids.push(id);
        p.waiters.push({ resolve, reject });
        if (p.ids.length >= maxBatch) flushSchema(schema);
      });
    },
    async flush() {
      for (const schema of [...pending.keys()]) flushSchema(schema);
      await Promise.allSettled([...inFlight]);
    },
  };
}
