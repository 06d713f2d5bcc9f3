/**
 * Posting pipeline benchmark (not a test). Run: `pnpm --filter @kv/worker bench`.
 *
 * End to end: a stock movement committed into `inventory.outbox` → worker relay → bull `high` → worker consumer
 * → the real accounting service (`POST /internal/events/stock-movement`, its own process) → journal entry
 * committed → outbox row marked done. A load generator commits movements at a fixed offered rate (one
 * transaction per tick of 20 ms, like inventory committing receipts) for BENCH_SECONDS; the worker(s) run as
 * child processes from source, so neither the generator nor accounting shares their event loop.
 *
 * Reported: offered and achieved postings/s over the measured window (outbox rows confirmed done), drain time
 * after the load stops, the lag (outbox `done_at` − `created_at`: committed → posted and confirmed, PostgreSQL
 * clock) p50/p95/p99/max of the movements committed during the window, the entry count check (one journal
 * entry per movement), and the mean time of a job vs. of accounting's request. Target: >= 1,000 postings/s
 * with lag p99 < 2 s.
 *
 * Env: BENCH_RATE (movements/s, default 1000), BENCH_SECONDS (default 20), BENCH_WARMUP_SECONDS (2),
 * BENCH_TENANTS (10), BENCH_WORKERS (worker replicas, default 1), QUEUE_HIGH_CONCURRENCY (worker, default 32),
 * BENCH_ACCOUNTING_POOL (accounting DATABASE_POOL_MAX, default 20), BENCH_ACCOUNTING_INSTANCES (accounting
 * processes, default 1; worker replica i calls instance i mod n, at least one replica each), BENCH_ACCOUNTING=stub (an accounting stand-in
 * that answers at once, to measure the worker pipeline alone: relay, bull, HTTP call, markDone).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import knexFactory from 'knex';
import { createOutboxTable } from '@kv/outbox';
import { enableTenantRls } from '@kv/tenant-context';
import {
  createTestDatabase,
  DEFAULT_REDIS_URL,
  deleteKeys,
  freePort,
  uniquePrefix,
  waitFor,
} from '@kv/testing';
import { migrate } from '../src/migrate';

const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const TENANTS = Number(process.env.BENCH_TENANTS ?? 10);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const CONCURRENCY = process.env.QUEUE_HIGH_CONCURRENCY ?? '32';
const ACCOUNTING_POOL = process.env.BENCH_ACCOUNTING_POOL ?? '20';
const ACCOUNTING_INSTANCES = Number(process.env.BENCH_ACCOUNTING_INSTANCES ?? 1);
const STUB = process.env.BENCH_ACCOUNTING === 'stub';
const TICK_MS = 20;
const ROOT = path.resolve(__dirname, '../../..');
const SECRET = `${randomUUID()}${randomUUID()}`;

interface Proc {
  name: string;
  proc: ChildProcess;
  port: number;
  output: string[];
}

async function startApp(name: string, app: string, env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const output: string[] = [];
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@kv/source', path.join(ROOT, `apps/${app}/src/main.ts`)],
    {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn', NODE_ENV: 'production', ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const keep = (c: Buffer) => {
    output.push(c.toString());
    if (output.length > 50) output.shift();
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited: ${output.join('')}`);
      return (await fetch(`http://127.0.0.1:${port}/health/ready`)).ok;
    },
    60_000,
    100,
  );
  return { name, proc, port, output };
}

/** Mean of a Prometheus histogram (sum / count) over the series whose labels contain `match`, in ms. */
async function histogramMeanMs(port: number, metric: string, match: string): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (!line.includes(match)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${metric}_sum{`)) sum += v;
    if (line.startsWith(`${metric}_count{`)) count += v;
  }
  return count > 0 ? Math.round((sum / count) * 10_000) / 10 : null;
}

/** A stand-in for accounting that answers every posting at once (its own process), to measure the worker alone. */
async function startStub(): Promise<Proc> {
  const port = await freePort();
  const code = `require('node:http').createServer((req, res) => {
    if (req.url === '/health/ready') return res.end('{}');
    req.resume();
    req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end('{"entry_id":null,"duplicate":false}'); });
  }).listen(${port}, '127.0.0.1');`;
  const proc = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).ok, 10_000, 50);
  return { name: 'accounting-stub', proc, port, output: [] };
}

async function stop(p: Proc): Promise<void> {
  if (p.proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => p.proc.once('exit', () => r()));
  p.proc.kill('SIGTERM');
  await exited;
}

function movement(tenantId: string, id: string): Record<string, unknown> {
  return {
    movement_id: id,
    tenant_id: tenantId,
    type: 'receipt',
    product_id: randomUUID(),
    warehouse_id: randomUUID(),
    quantity: 3,
    unit_cost: 125,
    value: 375,
    occurred_at: new Date().toISOString(),
    reference: 'bench',
  };
}

async function main(): Promise<void> {
  const db = await createTestDatabase('worker_bench');
  const owner = knexFactory({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
  await migrate(owner);
  // The outbox table exactly as inventory creates it (the benchmark plays inventory's part).
  await owner.raw('CREATE SCHEMA IF NOT EXISTS inventory');
  await owner.raw('GRANT USAGE ON SCHEMA inventory TO kv_app, kv_system');
  await createOutboxTable(owner, 'inventory', {
    appRole: 'kv_app',
    systemRole: 'kv_system',
    enableRls: enableTenantRls,
  });
  await owner.destroy();
  const admin = knexFactory({ client: 'pg', connection: db.urls.admin, pool: { min: 0, max: 4 } });
  const redis = new Redis(DEFAULT_REDIS_URL);
  const bullPrefix = `bench-${randomUUID().slice(0, 8)}`;
  const accountingPrefix = uniquePrefix('acct-bench');
  const procs: Proc[] = [];
  try {
    const accountings: Proc[] = [];
    for (let i = 0; i < ACCOUNTING_INSTANCES; i++) {
      const a = STUB
        ? await startStub()
        : await startApp(`accounting-${i + 1}`, 'accounting', {
            DATABASE_URL: db.urls.app,
            DATABASE_OWNER_URL: db.urls.owner,
            DATABASE_SYSTEM_URL: db.urls.system,
            DATABASE_POOL_MAX: ACCOUNTING_POOL,
            MIGRATE_ON_START: i === 0 ? 'true' : 'false',
            REDIS_URL: DEFAULT_REDIS_URL,
            REDIS_PREFIX: accountingPrefix,
            INTERNAL_SECRET: SECRET,
          });
      accountings.push(a);
      procs.push(a);
    }
    const workers: Proc[] = [];
    for (let i = 0; i < Math.max(WORKERS, ACCOUNTING_INSTANCES); i++) {
      const accounting = accountings[i % accountings.length]!;
      const worker = await startApp(`worker-${i + 1}`, 'worker', {
        DATABASE_SYSTEM_URL: db.urls.system,
        MIGRATE_ON_START: 'false',
        REDIS_URL: DEFAULT_REDIS_URL,
        INTERNAL_SECRET: SECRET,
        INVENTORY_URL: 'http://127.0.0.1:9',
        ACCOUNTING_URL: `http://127.0.0.1:${accounting.port}`,
        QUEUE_PREFIX: bullPrefix,
        QUEUE_HIGH_CONCURRENCY: CONCURRENCY,
        RELAY_SCHEMAS: 'inventory',
        EXPIRY_ENABLED: 'false',
        WORKER_ID: `bench-${i + 1}`,
      });
      workers.push(worker);
      procs.push(worker);
    }
    const tenants = Array.from({ length: TENANTS }, () => randomUUID());
    // Warm-up: accounting bootstraps each tenant's system accounts on its first posting.
    await admin('inventory.outbox').insert(
      tenants.map((t) => {
        const id = randomUUID();
        return {
          id,
          tenant_id: t,
          topic: 'inventory.stock_movement',
          payload: JSON.stringify(movement(t, id)),
        };
      }),
    );
    await waitFor(async () => {
      const r = await admin.raw<{ rows: { n: number }[] }>(
        `SELECT count(*)::int AS n FROM inventory.outbox WHERE status = 'pending'`,
      );
      return r.rows[0]!.n === 0;
    }, 60_000).catch((err: unknown) => {
      for (const p of procs) process.stderr.write(`--- ${p.name}\n${p.output.join('')}\n`);
      throw err;
    });

    process.stdout.write(
      `offering ${RATE} movements/s for ${WARMUP}+${SECONDS} s (${TENANTS} tenants, ${workers.length} worker(s), ` +
        `high concurrency ${CONCURRENCY}, ${accountings.length} accounting instance(s))\n`,
    );
    const perTick = (RATE * TICK_MS) / 1000;
    let owed = 0;
    let offered = 0;
    const started = Date.now();
    const windowStart = started + WARMUP * 1000;
    const end = windowStart + SECONDS * 1000;
    let windowStartDb: Date | undefined;
    let next = started;
    const inflight = new Set<Promise<void>>();
    while (Date.now() < end) {
      if (!windowStartDb && Date.now() >= windowStart) {
        windowStartDb = (await admin.raw<{ rows: { now: Date }[] }>('SELECT now()')).rows[0]!.now;
      }
      owed += perTick;
      const n = Math.floor(owed);
      owed -= n;
      if (n > 0) {
        const rows = Array.from({ length: n }, (_, i) => {
          const id = randomUUID();
          const t = tenants[(offered + i) % tenants.length]!;
          return {
            id,
            tenant_id: t,
            topic: 'inventory.stock_movement',
            payload: JSON.stringify(movement(t, id)),
          };
        });
        offered += n;
        const p: Promise<void> = admin('inventory.outbox')
          .insert(rows)
          .then(() => undefined);
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
      next += TICK_MS;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
    await Promise.all(inflight);
    if (!windowStartDb) throw new Error('the measured window never started');
    const windowEndDb = (await admin.raw<{ rows: { now: Date }[] }>('SELECT now()')).rows[0]!.now;
    const loadStopped = Date.now();
    await waitFor(
      async () => {
        const r = await admin.raw<{ rows: { n: number }[] }>(
          `SELECT count(*)::int AS n FROM inventory.outbox WHERE status = 'pending'`,
        );
        return r.rows[0]!.n === 0;
      },
      300_000,
      100,
    );
    const drainMs = Date.now() - loadStopped;
    // Lag: outbox commit → effect confirmed (accounting answered, outbox row marked done), PostgreSQL clocks.
    const { rows } = await admin.raw<{
      rows: { n: number; p50: number; p95: number; p99: number; max: number; done_in_window: number }[];
    }>(
      `WITH w AS (
         SELECT EXTRACT(EPOCH FROM done_at - created_at) AS lag FROM inventory.outbox
          WHERE created_at >= ? AND created_at < ?)
       SELECT count(*)::int AS n,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY lag) AS p95,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) AS p99,
              max(lag) AS max,
              (SELECT count(*)::int FROM inventory.outbox WHERE done_at >= ? AND done_at < ?) AS done_in_window
         FROM w`,
      [windowStartDb, windowEndDb, windowStartDb, windowEndDb],
    );
    const r = rows[0]!;
    const windowS = (windowEndDb.getTime() - windowStartDb.getTime()) / 1000;
    let entries: Record<string, number> = {};
    if (!STUB) {
      const check = await admin.raw<{ rows: { entries: number; outbox: number; duplicated: number }[] }>(
        `SELECT (SELECT count(*)::int FROM accounting.journal_entries WHERE source_type = 'stock_movement') AS entries,
                (SELECT count(*)::int FROM inventory.outbox) AS outbox,
                (SELECT count(*)::int FROM (SELECT 1 FROM accounting.journal_entries WHERE source_type = 'stock_movement'
                  GROUP BY tenant_id, source_id HAVING count(*) > 1) d) AS duplicated`,
      );
      entries = check.rows[0]!;
    }
    const result = {
      accounting: STUB ? 'stub (answers at once: the worker pipeline alone)' : 'real service',
      offered_per_s: Math.round(offered / ((end - started) / 1000)),
      achieved_per_s: Math.round(r.done_in_window / windowS),
      window_s: Number(windowS.toFixed(1)),
      movements_in_window: r.n,
      lag_ms: {
        p50: Math.round(r.p50 * 1000),
        p95: Math.round(r.p95 * 1000),
        p99: Math.round(r.p99 * 1000),
        max: Math.round(r.max * 1000),
      },
      drain_after_load_ms: drainMs,
      ...entries,
      // Where the time goes: a job attempt in the worker vs. the posting request inside accounting.
      mean_job_ms: await histogramMeanMs(
        workers[0]!.port,
        'worker_job_duration_seconds',
        'outcome="completed"',
      ),
      mean_accounting_request_ms: STUB
        ? null
        : await histogramMeanMs(
            accountings[0]!.port,
            'http_request_duration_seconds',
            'route="/internal/events/stock-movement"',
          ),
      target_met: r.done_in_window / windowS >= 1000 && r.p99 < 2,
    };
    if (process.env.BENCH_DEBUG) {
      const per = await admin.raw<{ rows: { s: number; n: number; p50: number; max: number }[] }>(
        `SELECT floor(EXTRACT(EPOCH FROM created_at - ?::timestamptz))::int AS s, count(*)::int AS n,
                round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM done_at - created_at)))::int AS p50,
                round(1000 * max(EXTRACT(EPOCH FROM done_at - created_at)))::int AS max
           FROM inventory.outbox WHERE created_at >= ? GROUP BY 1 ORDER BY 1`,
        [windowStartDb, windowStartDb],
      );
      for (const b of per.rows)
        process.stdout.write(`  second ${b.s}: ${b.n} movements, lag p50 ${b.p50} ms, max ${b.max} ms\n`);
      const done = await admin.raw<{ rows: { s: number; n: number }[] }>(
        `SELECT floor(EXTRACT(EPOCH FROM done_at - ?::timestamptz))::int AS s, count(*)::int AS n
           FROM inventory.outbox WHERE done_at >= ? GROUP BY 1 ORDER BY 1`,
        [windowStartDb, windowStartDb],
      );
      process.stdout.write(`  confirmed per second: ${done.rows.map((b) => `${b.s}:${b.n}`).join(' ')}\n`);
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    for (const p of procs.reverse()) await stop(p);
    await deleteKeys(redis, `${bullPrefix}:`);
    await deleteKeys(redis, accountingPrefix);
    redis.disconnect();
    await admin.destroy();
    await db.drop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
