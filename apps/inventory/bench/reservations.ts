/**
 * Reservation throughput benchmark (not a test). Run: `pnpm --filter @kv/inventory bench`.
 *
 * Starts the service in-process (a worker thread, so the load generator keeps its own event loop) against a
 * fresh database, seeds one warehouse with 10,000 SKUs, then for (a) one hot SKU and (b) 10,000 SKUs drives
 * `POST /v1/reservations` over HTTP with autocannon (64 connections, signed identity) and runs pgbench with
 * the same SQL transaction (bench/reservation.sql) against the same database, and prints throughput,
 * p50/p95/p99 and the ratio service / pgbench.
 *
 * Env: BENCH_SECONDS (per phase, default 10), BENCH_CONNECTIONS (64), BENCH_DB_POOL (service pool and pgbench
 * clients, default 16), PGBENCH (/usr/bin/pgbench), BENCH_PG_SOCKET (a Unix socket directory such as
 * /var/run/postgresql: both the service and pgbench then reach PostgreSQL over it instead of TCP).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { permissionsOf } from '@kv/api-contract';
import { createIdentityCodec, withTenantTransaction } from '@kv/tenant-context';
import { createTestDatabase } from '@kv/testing';
import { createPool } from '../src/data/knex';
import { migrate } from '../src/migrate';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const POOL = Number(process.env.BENCH_DB_POOL ?? 16);
const PGBENCH = process.env.PGBENCH ?? '/usr/bin/pgbench';
const SOCKET = process.env.BENCH_PG_SOCKET;
const SKUS = 10_000;
const SECRET = randomUUID() + randomUUID();
const run = promisify(execFile);

/** The role URL as the service connects (Unix socket when BENCH_PG_SOCKET is set). */
function serviceUrl(url: string): string {
  if (!SOCKET) return url;
  const u = new URL(url);
  return `postgres://${u.username}@/${u.pathname.slice(1)}?host=${encodeURIComponent(SOCKET)}`;
}

/** The same for pgbench (libpq keyword form). */
function pgbenchConninfo(url: string): string {
  if (!SOCKET) return url;
  const u = new URL(url);
  return `host=${SOCKET} port=${u.port || '5432'} user=${u.username} dbname=${u.pathname.slice(1)}`;
}

const productId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

interface PhaseResult {
  name: string;
  ok: number;
  rejected: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summarize(
  name: string,
  latenciesMs: number[],
  ok: number,
  rejected: number,
  seconds: number,
): PhaseResult {
  const sorted = [...latenciesMs].sort((x, y) => x - y);
  return {
    name,
    ok,
    rejected,
    perSecond: ok / seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
}

async function seed(appUrl: string, tenantId: string, warehouseId: string): Promise<void> {
  const knex = createPool(appUrl, { max: 1 });
  try {
    await withTenantTransaction(
      knex,
      async (trx) => {
        await trx.raw(
          `INSERT INTO inventory.warehouses (tenant_id, id, code, name) VALUES (?, ?, 'BENCH', 'Bench warehouse')`,
          [tenantId, warehouseId],
        );
        await trx.raw(
          `INSERT INTO inventory.products (tenant_id, id, sku, name)
           SELECT ?, ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'BENCH-' || n, 'Bench product ' || n
             FROM generate_series(1, ?) n`,
          [tenantId, SKUS],
        );
        await trx.raw(
          `INSERT INTO inventory.stock_levels (tenant_id, product_id, warehouse_id, on_hand, average_cost)
           SELECT tenant_id, id, ?, 1000000000, 100 FROM inventory.products WHERE tenant_id = ?`,
          [warehouseId, tenantId],
        );
        await trx.raw(
          `INSERT INTO inventory.stock_movements (tenant_id, id, type, product_id, warehouse_id, quantity, unit_cost, reference, document_type, document_id)
           SELECT tenant_id, gen_random_uuid(), 'receipt', product_id, warehouse_id, on_hand, 100, 'bench seed', 'receipt', gen_random_uuid()
             FROM inventory.stock_levels WHERE tenant_id = ?`,
          [tenantId],
        );
      },
      { tenantId, userId: null },
    );
    await knex.raw('ANALYZE');
  } finally {
    await knex.destroy();
  }
}

interface Service {
  url: string;
  /** Starts measuring the service thread's event-loop utilization. */
  markStart: () => void;
  /** Event-loop utilization (0..1) since {@link Service.markStart}. */
  utilization: () => Promise<number>;
  stop: () => Promise<void>;
}

async function startService(appUrl: string, systemUrl: string): Promise<Service> {
  // tsx's hooks do not follow into worker threads: register its CommonJS loader there, then load the app.
  const bootstrap = `require('tsx/cjs/api').register(); require(${JSON.stringify(path.join(__dirname, 'app-worker.ts'))});`;
  const worker = new Worker(bootstrap, {
    eval: true,
    workerData: { appUrl, systemUrl, secret: SECRET, poolMax: POOL },
  });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (m: { port: number }) => resolve(m.port));
    worker.once('error', reject);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    markStart: () => worker.postMessage('elu-start'),
    utilization: () =>
      new Promise<number>((resolve) => {
        worker.once('message', (m: { elu: number }) => resolve(m.elu));
        worker.postMessage('elu-end');
      }),
    stop: async () => {
      const closed = new Promise<void>((resolve) => worker.once('message', () => resolve()));
      worker.postMessage('close');
      await closed;
      await worker.terminate();
    },
  };
}

async function driveService(
  name: string,
  url: string,
  token: string,
  warehouseId: string,
  skus: number,
  seconds: number,
): Promise<PhaseResult> {
  const latencies: number[] = [];
  let ok = 0;
  let rejected = 0;
  let done: (r: autocannon.Result) => void = () => undefined;
  let fail: (e: unknown) => void = () => undefined;
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  const options: autocannon.Options = {
    url: `${url}/v1/reservations`,
    connections: CONNECTIONS,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-kv-identity': token },
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({
            warehouse_id: warehouseId,
            lines: [{ product_id: productId(1 + Math.floor(Math.random() * skus)), quantity: 1 }],
          }),
        }),
      },
    ],
  };
  const instance = autocannon(options, (err, res) => (err ? fail(err) : done(res)));
  instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
    if (status === 201) ok++;
    else rejected++;
  });
  const result = await finished;
  if (result.errors > 0 || result.timeouts > 0) rejected += result.errors + result.timeouts;
  return summarize(name, latencies, ok, rejected, seconds);
}

async function drivePgbench(
  name: string,
  dbUrl: string,
  vars: Record<string, string | number>,
  seconds: number,
): Promise<PhaseResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'inv-pgbench-'));
  try {
    const args = [
      '-n',
      '-M',
      'extended',
      '-c',
      String(POOL),
      '-j',
      '2',
      '-T',
      String(seconds),
      '-f',
      path.join(__dirname, 'reservation.sql'),
      '-l',
      `--log-prefix=${path.join(dir, 'log')}`,
    ];
    for (const [k, v] of Object.entries(vars)) args.push('-D', `${k}=${v}`);
    args.push(dbUrl);
    let stdout: string;
    try {
      stdout = (await run(PGBENCH, args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
    } catch (err) {
      const detail =
        err instanceof Error
          ? err.message
              .split('\n')
              .filter((l) => l.includes('error'))
              .slice(0, 2)
              .join('; ')
          : String(err);
      process.stdout.write(`pgbench failed (${detail}); its numbers below count only what finished\n`);
      stdout = '';
    }
    const failed = /number of failed transactions: (\d+)/.exec(stdout);
    const latencies: number[] = [];
    for (const file of await readdir(dir)) {
      for (const line of (await readFile(path.join(dir, file), 'utf8')).split('\n')) {
        const cols = line.trim().split(/\s+/);
        if (cols.length >= 6) latencies.push(Number(cols[2]) / 1000);
      }
    }
    return summarize(name, latencies, latencies.length, failed ? Number(failed[1]) : 0, seconds);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const fmt = (r: PhaseResult) =>
  `${r.name.padEnd(34)} ${r.perSecond.toFixed(0).padStart(8)}/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p95 ${r.p95.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  ok ${r.ok}  rejected ${r.rejected}`;

async function main(): Promise<void> {
  const db = await createTestDatabase('inv_bench');
  const owner = createPool(db.urls.owner, { max: 2 });
  const tenantId = randomUUID();
  const userId = randomUUID();
  const warehouseId = randomUUID();
  let service: Service | undefined;
  try {
    await migrate(owner);
    await seed(db.urls.app, tenantId, warehouseId);
    service = await startService(serviceUrl(db.urls.app), serviceUrl(db.urls.system));
    const token = createIdentityCodec({ secret: SECRET, ttlSeconds: 3600 }).sign({
      tenantId,
      userId,
      roles: ['sales_clerk'],
      permissions: permissionsOf(['sales_clerk']),
      attributes: {},
      requestId: 'bench',
      kind: 'user',
    });
    const pgVars = { tenant: tenantId, user: userId, warehouse: warehouseId };
    process.stdout.write(
      `inventory reservation bench: ${CONNECTIONS} HTTP connections, DB pool / pgbench clients ${POOL}, ${SECONDS} s per phase, PostgreSQL over ${SOCKET ? `Unix socket ${SOCKET}` : 'TCP'}\n`,
    );
    await driveService('warmup', service.url, token, warehouseId, SKUS, 3);

    const results: [PhaseResult, PhaseResult][] = [];
    for (const [label, skus] of [
      ['(a) hot SKU', 1],
      ['(b) 10,000 SKUs', SKUS],
    ] as const) {
      service.markStart();
      const svc = await driveService(
        `${label}: service over HTTP`,
        service.url,
        token,
        warehouseId,
        skus,
        SECONDS,
      );
      const elu = await service.utilization();
      process.stdout.write(`${fmt(svc)}  (service event loop ${(elu * 100).toFixed(0)}% busy)\n`);
      const pg = await drivePgbench(
        `${label}: pgbench same SQL`,
        pgbenchConninfo(db.urls.app),
        { ...pgVars, skus },
        SECONDS,
      );
      process.stdout.write(`${fmt(pg)}\n`);
      const r =
        pg.perSecond > 0 ? `${(svc.perSecond / pg.perSecond).toFixed(2)}x` : 'n/a (pgbench did not run)';
      process.stdout.write(`${`${label}: ratio service / pgbench`.padEnd(34)} ${r}\n`);
      results.push([svc, pg]);
    }
    const [, b] = results;
    const ratio = b![1].perSecond > 0 ? b![0].perSecond / b![1].perSecond : NaN;
    const ratioVerdict = Number.isNaN(ratio)
      ? 'not measured'
      : `${ratio >= 0.4 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`;
    process.stdout.write(
      `targets (b): ratio >= 0.40x: ${ratioVerdict}; p99 < 50 ms: ${b![0].p99 < 50 ? 'met' : 'NOT met'} (${b![0].p99.toFixed(1)} ms)\n`,
    );
  } finally {
    await service?.stop();
    await owner.destroy();
    await db.drop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
