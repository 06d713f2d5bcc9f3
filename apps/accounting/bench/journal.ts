/**
 * Journal posting benchmark (not a test): `pnpm --filter @kv/accounting bench`.
 *
 * In one run, on a fresh database. Each comparison alternates its two sides in halves (A B A B) because the
 * machine is shared: a neighbour's load spike then hits both sides alike.
 *  (a) HTTP: the real service (`src/main.ts`, a child process) under autocannon with 64 connections, posting
 *      balanced entries on one hot pair of accounts, against pgbench running the same SQL transaction the
 *      service sends (bench/post-entry-hot.sql, extended protocol like the service's driver) with as many
 *      clients as the service has database connections (BENCH_POOL_MAX);
 *  (b) the same over random pairs of 1,000 accounts (bench/post-entry-wide.sql);
 *  (n)/(s) pgbench, hot pair, 64 clients: the naive design (one balance row per account: balance slots = 1, set for
 *      the role so the SQL is byte-for-byte the same) against the slot design.
 * Prints entries/s and p50/p95/p99 per phase, the ratios, then checks that the books balance and that the balance
 * slots equal the lines.
 *
 * Environment: BENCH_DURATION_S (10 per phase), BENCH_CONNECTIONS (64), BENCH_POOL_MAX (16: the service's
 * database connections and pgbench's clients for (a)/(b)), BENCH_INSTANCES (1; N service processes share the
 * connections and the pool, as when the service is scaled out), BENCH_PGBENCH_CLIENTS (64, for (n)/(s); lowered when the shared
 * server has fewer free connections, and then said so), BENCH_ADMIN_URL (superuser URL), REDIS_URL.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import knex, { type Knex } from 'knex';
import { createIdentityCodec } from '@kv/tenant-context';
import {
  createTestDatabase,
  DEFAULT_ADMIN_URL,
  DEFAULT_REDIS_URL,
  freePort,
  uniquePrefix,
  waitFor,
} from '@kv/testing';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const PG_CLIENTS = Number(process.env.BENCH_PGBENCH_CLIENTS ?? 64);
const POOL_MAX = Number(process.env.BENCH_POOL_MAX ?? 16);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 1);
/**
 * The service and pgbench reach PostgreSQL the same way: through its Unix socket when this directory has one
 * (pgbench's own default), else over TCP. BENCH_PG_SOCKET_DIR='' forces TCP.
 */
const SOCKET_DIR = process.env.BENCH_PG_SOCKET_DIR ?? '/var/run/postgresql';
const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? DEFAULT_ADMIN_URL;
const REDIS_URL = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
const SECRET = 'bench-internal-secret-0123456789abcdef';
const APP_DIR = path.resolve(__dirname, '..');
const DATE = '2026-01-15';

interface PhaseResult {
  name: string;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  note?: string;
}

/** What one measured slice produced; slices of the same phase are merged before summarizing. */
interface Slice {
  latencies: number[];
  ok: number;
  seconds: number;
  errors: number;
  clients?: number;
}

function merge(name: string, slices: Slice[], requestedClients?: number): PhaseResult {
  const all = slices.flatMap((x) => x.latencies);
  const ok = slices.reduce((n, x) => n + x.ok, 0);
  const seconds = slices.reduce((n, x) => n + x.seconds, 0);
  const errors = slices.reduce((n, x) => n + x.errors, 0);
  const r = summarize(name, all, ok, seconds, errors);
  const fewest = Math.min(...slices.map((x) => x.clients ?? Infinity));
  return requestedClients !== undefined && fewest < requestedClients
    ? { ...r, note: `${fewest} clients: the shared server had no more free connections` }
    : r;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summarize(
  name: string,
  latenciesMs: number[],
  ok: number,
  seconds: number,
  errors: number,
): PhaseResult {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    name,
    perSecond: ok / seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    errors,
  };
}

/** Deterministic ids of the 1,000 "wide" accounts, so pgbench can compute them too. */
function wideId(i: number): string {
  return `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
}

function entryJson(debitAccount: string, creditAccount: string): string {
  const amount = 1 + Math.floor(Math.random() * 100_000);
  return JSON.stringify({
    date: DATE,
    memo: 'bench',
    lines: [
      { account_id: debitAccount, debit: amount, credit: 0 },
      { account_id: creditAccount, debit: 0, credit: amount },
    ],
  });
}

async function startService(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@kv/source', 'src/main.ts'], {
    cwd: APP_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${env.PORT}/health/ready`)).ok, 60_000, 200);
  return child;
}

async function stopService(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Responses in the first second (connections opening) are left out, like pgbench's "without initial connection time". */
const RAMP_MS = 1_000;

/** One autocannon run per service instance, at the same time, the connections split between them. */
async function httpSlice(
  urls: string[],
  headers: Record<string, string>,
  body: () => string,
  seconds: number,
): Promise<Slice> {
  const latencies: number[] = [];
  let ok = 0;
  let bad = 0;
  const started = performance.now();
  const results = await Promise.all(
    urls.map(
      (url) =>
        new Promise<autocannon.Result>((resolve, reject) => {
          const instance = autocannon(
            {
              url,
              method: 'POST',
              connections: Math.round(CONNECTIONS / urls.length),
              duration: seconds,
              headers: { 'content-type': 'application/json', ...headers },
              requests: [{ setupRequest: (req) => ({ ...req, body: body() }) }],
            },
            (err, res) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res)),
          );
          instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
            if (performance.now() - started < RAMP_MS) return;
            latencies.push(ms);
            if (status >= 200 && status < 300) ok++;
            else bad++;
          });
        }),
    ),
  );
  const elapsed = (performance.now() - started) / 1000;
  return {
    latencies,
    ok,
    seconds: Math.max(0.1, elapsed - RAMP_MS / 1000),
    errors: bad + results.reduce((n, r) => n + r.errors + r.timeouts, 0),
  };
}

/** Connections the server can still accept, keeping a margin for other users of a shared server. */
async function freeConnections(admin: Knex): Promise<number> {
  const r = await admin.raw<{ rows: { free: number }[] }>(
    `SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
            - (SELECT count(*) FROM pg_stat_activity)::int AS free`,
  );
  return r.rows[0]!.free - 6;
}

function runPgbench(
  dbUrl: string,
  clients: number,
  script: string,
  vars: Record<string, string>,
  seconds: number,
  logDir: string,
) {
  const u = new URL(dbUrl);
  const args = [
    '-n',
    ['-h', u.searchParams.get('host') ?? u.hostname],
    ['-p', u.port || '5432'],
    ['-U', decodeURIComponent(u.username)],
    ['-c', String(clients)],
    ['-j', '2'],
    ['-T', String(seconds)],
    ['-M', 'extended'],
    ['-f', path.join(__dirname, script)],
    ['-l', '--log-prefix', path.join(logDir, 'log')],
    ...Object.entries(vars).map(([k, v]) => ['-D', `${k}=${v}`]),
    u.pathname.slice(1),
  ].flat();
  return spawnSync('pgbench', args, { encoding: 'utf8' });
}

async function pgbenchSlice(
  admin: Knex,
  dbUrl: string,
  wantClients: number,
  script: string,
  vars: Record<string, string>,
  seconds: number,
): Promise<Slice> {
  for (let attempt = 1; ; attempt++) {
    // Other users of a shared server come and go: take what is free, retry with less if it filled up meanwhile.
    // Wait (up to 30 s) for the shared server to have room for every client, then take what there is.
    let free = await freeConnections(admin);
    for (let waited = 0; free < wantClients && waited < 30; waited++) {
      await new Promise((r) => setTimeout(r, 1_000));
      free = await freeConnections(admin);
    }
    const clients = Math.max(1, Math.min(wantClients, free - 4 * (attempt - 1)));
    const dir = mkdtempSync(path.join(tmpdir(), 'acct-pgbench-'));
    try {
      const run = runPgbench(dbUrl, clients, script, vars, seconds, dir);
      if (run.status !== 0) {
        if (attempt < 6 && /connection slots|too many clients/.test(run.stderr)) {
          await new Promise((r) => setTimeout(r, 2_000));
          continue;
        }
        throw new Error(`pgbench failed: ${run.stderr}`);
      }
      const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(run.stdout);
      const failed = /number of failed transactions: (\d+)/.exec(run.stdout);
      const latencies: number[] = [];
      for (const f of readdirSync(dir)) {
        for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
          const us = Number(line.split(' ')[2]);
          if (line && Number.isFinite(us)) latencies.push(us / 1000);
        }
      }
      // pgbench's own tps excludes connection set-up; derive the count from it for the merged rate.
      const rate = Number(tps?.[1] ?? latencies.length / seconds);
      return { latencies, ok: rate * seconds, seconds, errors: Number(failed?.[1] ?? 0), clients };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

function row(r: PhaseResult): string {
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1).padStart(7) : '    n/a');
  return (
    `${r.name.padEnd(42)} ${r.perSecond.toFixed(0).padStart(6)}/s  p50 ${f(r.p50)} ms  p95 ${f(r.p95)} ms` +
    `  p99 ${f(r.p99)} ms  errors ${r.errors}${r.note ? `  (${r.note})` : ''}`
  );
}

async function main(): Promise<void> {
  const db = await createTestDatabase('acct_bench', ADMIN_URL);
  const ports: number[] = [];
  for (let i = 0; i < INSTANCES; i++) ports.push(await freePort());
  const tenantId = randomUUID();
  const userId = randomUUID();
  const codec = createIdentityCodec({ secret: SECRET, ttlSeconds: 3600 });
  const identity = codec.sign({
    tenantId,
    userId,
    roles: ['accountant'],
    permissions: ['accounting:read', 'accounting:post', 'accounting:close'],
    attributes: {},
    requestId: 'bench',
    kind: 'user',
  });
  const headers = { 'x-kv-identity': identity };
  const overSocket = SOCKET_DIR !== '' && existsSync(path.join(SOCKET_DIR, '.s.PGSQL.5432'));
  const appUrl = new URL(db.urls.app);
  if (overSocket) appUrl.searchParams.set('host', SOCKET_DIR);
  const dbUrl = appUrl.toString();
  const base = `http://127.0.0.1:${ports[0]!}`;
  const results: PhaseResult[] = [];
  const say = (m: string) => process.stdout.write(`${m}\n`);
  let children: ChildProcess[] = [];
  const owner = knex({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 1 } });
  const admin = knex({ client: 'pg', connection: db.urls.admin, pool: { min: 0, max: 1 } });
  try {
    const prefix = uniquePrefix('acctbench');
    for (const [i, port] of ports.entries()) {
      // The first instance runs the migrations; the database connections are split between the instances.
      children.push(
        await startService({
          PORT: String(port),
          LOG_LEVEL: 'error',
          DATABASE_URL: dbUrl,
          DATABASE_OWNER_URL: db.urls.owner,
          MIGRATE_ON_START: i === 0 ? 'true' : 'false',
          REDIS_URL,
          REDIS_KEY_PREFIX: prefix,
          INTERNAL_SECRET: SECRET,
          DB_POOL_MAX: String(Math.max(1, Math.round(POOL_MAX / INSTANCES))),
        }),
      );
    }
    const post = async (p: string, body: unknown) => {
      const res = await fetch(base + p, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
      return (await res.json()) as { id: string };
    };
    const hotA = (await post('/v1/accounts', { code: 'H1', name: 'Hot cash', type: 'asset' })).id;
    const hotB = (await post('/v1/accounts', { code: 'H2', name: 'Hot sales', type: 'revenue' })).id;
    await owner.transaction(async (trx) => {
      await trx.raw(`SELECT set_config('app.tenant_id', ?, true)`, [tenantId]);
      await trx.raw(
        `INSERT INTO accounting.accounts (tenant_id, id, code, name, type)
         SELECT ?, ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'W' || lpad(i::text, 4, '0'),
                'Wide ' || i, 'asset'
           FROM generate_series(0, 999) AS i`,
        [tenantId],
      );
    });
    const hotBody = () => entryJson(hotA, hotB);
    const wideBody = () => {
      const i = Math.floor(Math.random() * 1000);
      const j = (i + 1 + Math.floor(Math.random() * 999)) % 1000;
      return entryJson(wideId(i), wideId(j));
    };
    const url = ports.map((port) => `http://127.0.0.1:${port}/v1/journal-entries`);
    const vars = { tenant: tenantId, user: userId, a1: hotA, a2: hotB };
    const half = DURATION_S / 2;
    /** Two slices of each side, alternating (A B A B), so a neighbour's load spike hits both sides alike. */
    const paired = async (a: () => Promise<Slice>, b: () => Promise<Slice>): Promise<[Slice[], Slice[]]> => {
      const [xs, ys]: [Slice[], Slice[]] = [[], []];
      for (let round = 0; round < 2; round++) {
        xs.push(await a());
        ys.push(await b());
      }
      return [xs, ys];
    };
    const pgbench =
      (clients: number, script: string, seconds = half) =>
      () =>
        pgbenchSlice(admin, dbUrl, clients, script, vars, seconds);
    say(
      `phases of ${DURATION_S} s (two alternating halves); HTTP ${CONNECTIONS} connections into ${INSTANCES} ` +
        `instance(s) with ${POOL_MAX} database connections in all (${overSocket ? `Unix socket ${SOCKET_DIR}` : 'TCP'}); ` +
        `pgbench ${POOL_MAX} clients (the pool) and ${PG_CLIENTS} clients`,
    );
    // Warm-ups (not measured): the service's JIT (it keeps getting faster for ~20 s), and each scenario's balance
    // slot rows (a cold account's first postings insert slot rows instead of updating them).
    say('warming up (20 s) ...');
    for (let i = 0; i < 2; i++) {
      await httpSlice(url, headers, hotBody, 5);
      await httpSlice(url, headers, wideBody, 5);
    }
    // A database in service has statistics (autovacuum analyzes within a minute); this one is seconds old.
    await owner.raw(
      'ANALYZE accounting.accounts, accounting.journal_entries, accounting.journal_lines, accounting.account_balances',
    );
    say('(a) hot pair ...');
    const [aHttp, aPg] = await paired(
      () => httpSlice(url, headers, hotBody, half),
      pgbench(POOL_MAX, 'post-entry-hot.sql'),
    );
    results.push(merge('(a) HTTP     hot pair', aHttp));
    results.push(merge(`(a) pgbench  hot pair, ${POOL_MAX} clients`, aPg, POOL_MAX));
    say('(b) 1,000 accounts ...');
    const [bHttp, bPg] = await paired(
      () => httpSlice(url, headers, wideBody, half),
      pgbench(POOL_MAX, 'post-entry-wide.sql'),
    );
    results.push(merge('(b) HTTP     1,000 accounts', bHttp));
    results.push(merge(`(b) pgbench  1,000 accounts, ${POOL_MAX} clients`, bPg, POOL_MAX));
    await Promise.all(children.map(stopService));
    children = [];
    say(`(n) naive single balance row vs (s) 64 balance slots, hot pair, ${PG_CLIENTS} clients ...`);
    // The naive design: one balance row per account. Same SQL; only the slot count differs, set for the role
    // (a new pgbench connection picks it up), alternating with the slot design.
    const naive = async () => {
      await admin.raw(`ALTER ROLE kv_app IN DATABASE ${db.name} SET accounting.balance_slots = '1'`);
      try {
        return await pgbench(PG_CLIENTS, 'post-entry-hot.sql')();
      } finally {
        await admin.raw(`ALTER ROLE kv_app IN DATABASE ${db.name} RESET accounting.balance_slots`);
      }
    };
    const [nPg, sPg] = await paired(naive, pgbench(PG_CLIENTS, 'post-entry-hot.sql'));
    results.push(merge(`(n) pgbench  hot pair, naive 1 row, ${PG_CLIENTS} cl.`, nPg, PG_CLIENTS));
    results.push(merge(`(s) pgbench  hot pair, 64 slots, ${PG_CLIENTS} cl.`, sPg, PG_CLIENTS));

    const check = await owner.transaction(async (trx) => {
      await trx.raw(`SELECT set_config('app.tenant_id', ?, true)`, [tenantId]);
      const r = await trx.raw<{ rows: Record<string, string | number>[] }>(
        `SELECT (SELECT sum(debit) FROM accounting.journal_lines)::text AS line_debit,
                (SELECT sum(credit) FROM accounting.journal_lines)::text AS line_credit,
                (SELECT sum(debit) FROM accounting.account_balances)::text AS slot_debit,
                (SELECT sum(credit) FROM accounting.account_balances)::text AS slot_credit,
                (SELECT count(*) FROM accounting.journal_entries)::int AS entries,
                (SELECT count(*) FROM accounting.account_balances WHERE account_id = ?)::int AS hot_slots`,
        [hotA],
      );
      return r.rows[0]!;
    });

    const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix))!;
    const ratio = (a: PhaseResult, b: PhaseResult) => (a.perSecond / b.perSecond).toFixed(2);
    say('');
    for (const r of results) say(row(r));
    say('');
    say(
      `ratio (a) HTTP / pgbench, hot pair:        ${ratio(byName('(a) HTTP'), byName('(a) pgbench'))}x (target >= 0.4)`,
    );
    say(`ratio (b) HTTP / pgbench, 1,000 accounts:  ${ratio(byName('(b) HTTP'), byName('(b) pgbench'))}x`);
    say(
      `ratio (s) slots / (n) naive, pgbench:      ${ratio(byName('(s) pgbench'), byName('(n) pgbench'))}x (target >= 3)`,
    );
    say(
      `check: ${check.entries} entries; lines debit ${check.line_debit} = credit ${check.line_credit}; ` +
        `slots debit ${check.slot_debit}, credit ${check.slot_credit}; the hot account has ${check.hot_slots} slot rows`,
    );
    if (
      check.line_debit !== check.line_credit ||
      check.line_debit !== check.slot_debit ||
      check.line_credit !== check.slot_credit
    ) {
      throw new Error('the books do not balance, or the balance slots differ from the lines');
    }
  } finally {
    await Promise.all(children.map(stopService));
    await owner.destroy();
    await admin.destroy();
    await db.drop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
