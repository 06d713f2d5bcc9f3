import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import type { BenchPlan } from './config';
import { rows, withClient, type BenchDb } from './db';
import { HttpClient } from './http';
import { PEER_N, SCALE_BASE } from './ids';
import { runLoad, type Outcome, type Progress } from './load';
import {
  commitFlowOp,
  healthOp,
  journalOp,
  READ_MIX,
  readMixOp,
  reserveOp,
  type ReserveCounters,
} from './ops';
import { runDirect, type DirectDesign } from './peer';
import { havePgbench, runPgbench } from './pgbench';
import { ProcSampler, type ProcGroup } from './procs';
import {
  renderConsole,
  renderHtml,
  renderMarkdown,
  type BenchReport,
  type Measurement,
  type ScenarioResult,
} from './report';
import {
  analyze,
  loginScaleTenants,
  prepareBenchSchema,
  provisionMainTenants,
  refreshStale,
  seedCatalogs,
  seedPeerTenant,
  seedScaleTenants,
  type ProvisioningStats,
  type Session,
} from './seed';
import type { PhaseStats } from './stats';
import { connectTarget, startTarget, type Target } from './target';

export interface RunOptions {
  plan: BenchPlan;
  /** Database the bench's private stack uses (dropped and recreated); ignored with BENCH_TARGET. */
  database: string;
  progress: Progress;
  /** Called once the target runs, with a function that stops it (e.g. for a Ctrl-C handler). */
  onTarget?: (stop: () => Promise<void>) => void;
}

export interface RunResult {
  report: BenchReport;
  files: { json: string; html: string; markdown: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** Everything the scenarios share. */
class Bench {
  readonly runId = randomBytes(3).toString('hex');
  readonly scenarios: ScenarioResult[] = [];
  readonly notes: string[] = [];
  readonly failures: string[] = [];
  readonly benchPids = new Set<number>();
  readonly expectedCogs = new Map<number, number>();
  main: Session[] = [];
  scale: Session[] = [];
  peer: { n: number; tenantId: string; warehouseId: string; userId: string } | undefined;
  provisioning: ProvisioningStats | undefined;
  readonly setup: HttpClient;
  readonly pgbenchOk: boolean;

  constructor(
    readonly plan: BenchPlan,
    readonly target: Target,
    readonly db: BenchDb,
    readonly progress: Progress,
  ) {
    this.setup = new HttpClient(target.base, 32);
    this.pgbenchOk = havePgbench(plan.pgbench);
    if (!this.pgbenchOk)
      this.notes.push(`pgbench not found at ${plan.pgbench}: physical-limit lines skipped`);
  }

  get groups(): ProcGroup[] {
    return [...this.target.groups, { name: 'bench client', pids: () => [process.pid, ...this.benchPids] }];
  }

  /** Free PostgreSQL connections seen by the last {@link quiesce}. */
  private pgFree: number | undefined;
  /** Most connections to the bench database seen between phases (idle pool connections stay open ~30 s). */
  maxOwnConnections = 0;

  /** Waits until no stock movement waits for its posting, then checkpoints, so phases start alike. */
  async quiesce(): Promise<void> {
    const deadline = Date.now() + 180_000;
    await withClient(this.db.adminUrl, async (c) => {
      for (;;) {
        const [r] = await rows<{ n: number }>(
          c,
          `SELECT count(*)::int AS n FROM inventory.outbox WHERE status = 'pending'`,
        );
        if (!r || r.n === 0) break;
        if (Date.now() > deadline) {
          this.notes.push(`${r.n} outbox events were still pending after 180 s of waiting between phases`);
          break;
        }
        this.progress.update(`  waiting for ${r.n} stock movements to be posted before the next phase ...`);
        await sleep(500);
      }
      if (!this.plan.quick) await c.query('CHECKPOINT');
      // PostgreSQL is shared with whatever else runs on the machine: a phase that cannot get its connections
      // measures the wait, not the system, so say so in the report.
      const [conn] = await rows<{ used: number; max: number; ours: number }>(
        c,
        `SELECT count(*)::int AS used, current_setting('max_connections')::int AS max,
                (count(*) FILTER (WHERE datname = current_database()))::int AS ours
           FROM pg_stat_activity`,
      );
      this.pgFree = conn ? conn.max - conn.used : undefined;
      this.maxOwnConnections = Math.max(this.maxOwnConnections, conn?.ours ?? 0);
      if (conn && conn.max - conn.used < this.plan.dbClients + 10) {
        const note = `PostgreSQL is shared: some phases started with fewer than ${this.plan.dbClients + 10} of its ${conn.max} connections free (see each measurement's context in the JSON)`;
        if (!this.notes.includes(note)) this.notes.push(note);
      }
    });
    await refreshStale(this.setup, this.main);
    await sleep(500);
  }

  private done(m: Measurement): Measurement {
    m.context = {
      loadAvg1: os.loadavg()[0] ?? 0,
      ...(this.pgFree !== undefined ? { pgFreeConnections: this.pgFree } : {}),
    };
    const s = m.stats;
    this.progress.log(
      `  ${m.label}: ${fmt(s.throughput)} ${m.unit}, p50 ${s.latency.p50.toFixed(2)} ms, p95 ${s.latency.p95.toFixed(2)} ms, p99 ${s.latency.p99.toFixed(2)} ms, errors ${s.errors}${
        s.errors ? ` ${JSON.stringify(s.errorKinds)}` : ''
      } (load ${m.context.loadAvg1.toFixed(1)})`,
    );
    return m;
  }

  /** An API phase: `workers` closed-loop connections through nginx for warm-up + duration. */
  async api(
    label: string,
    unit: string,
    workers: number,
    op: (http: HttpClient, w: number) => Promise<Outcome>,
  ): Promise<Measurement> {
    await this.quiesce();
    const http = new HttpClient(this.target.base, workers);
    const sampler = new ProcSampler(this.groups);
    try {
      const stats = await runLoad({
        label,
        workers,
        durationS: this.plan.durationS,
        warmupS: this.plan.warmupS,
        progress: this.progress,
        op: (w) => op(http, w),
        onMeasureStart: () => sampler.start(),
      });
      return this.done({ kind: 'api', label, unit, stats, procs: sampler.stop() });
    } finally {
      await http.close();
    }
  }

  /** Runs a secondary measurement; a failure is recorded and the scenario keeps its other lines. */
  private async optional(
    what: string,
    fn: () => Promise<Measurement | undefined>,
  ): Promise<Measurement | undefined> {
    try {
      return await fn();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      this.failures.push(`${what}: ${msg.split('\n').slice(0, 3).join(' | ')}`);
      this.progress.log(`  FAILED ${what}: ${msg}`);
      return undefined;
    }
  }

  /** The physical limit: pgbench with the equivalent SQL on the same rows. */
  limit(
    scripts: [string, number][],
    vars: Record<string, number>,
    unit: string,
  ): Promise<Measurement | undefined> {
    return this.optional(`pgbench ${scripts.map((x) => x[0]).join('+')}`, () =>
      this.limitOnce(scripts, vars, unit),
    );
  }

  private async limitOnce(
    scripts: [string, number][],
    vars: Record<string, number>,
    unit: string,
  ): Promise<Measurement | undefined> {
    if (!this.pgbenchOk) return undefined;
    await this.quiesce();
    const sampler = new ProcSampler(this.groups);
    sampler.start();
    let pid: number | undefined;
    let stats: PhaseStats;
    const label = `physical limit: pgbench ${scripts.map(([f]) => f.replace('.sql', '')).join('+')} (${this.plan.dbClients} clients)`;
    this.progress.update(`  ${label} ...`);
    try {
      stats = await runPgbench({
        bin: this.plan.pgbench,
        url: this.db.appUrl,
        scripts,
        vars,
        clients: this.plan.dbClients,
        threads: 2,
        durationS: this.plan.durationS,
        onSpawn: (p) => {
          pid = p;
          this.benchPids.add(p);
        },
      });
    } finally {
      if (pid !== undefined) this.benchPids.delete(pid);
    }
    return this.done({ kind: 'limit', label, unit, stats, procs: sampler.stop() });
  }

  /** The peer baseline (seed's design) or this design, straight against PostgreSQL from Node. */
  direct(design: DirectDesign, skus: number): Promise<Measurement | undefined> {
    return this.optional(`direct ${design}`, () => this.directOnce(design, skus));
  }

  private async directOnce(design: DirectDesign, skus: number): Promise<Measurement | undefined> {
    if (!this.peer) return undefined;
    await this.quiesce();
    const sampler = new ProcSampler(this.groups);
    const label =
      design === 'peer'
        ? 'peer baseline: seed design (Redis lock per SKU + SELECT FOR UPDATE), Node → PostgreSQL'
        : 'this design (conditional UPDATE, no lock), same Node harness';
    const stats = await runDirect({
      design,
      appUrl: this.db.appUrl,
      redisUrl: this.target.redis.url,
      prefix: this.target.redis.prefix,
      tenant: this.peer,
      skus,
      workers: this.plan.connections,
      poolSize: this.plan.dbClients,
      durationS: this.plan.durationS,
      warmupS: this.plan.warmupS,
      progress: this.progress,
      label,
      onMeasureStart: () => sampler.start(),
    });
    return this.done({
      kind: design === 'peer' ? 'peer' : 'direct',
      label,
      unit: 'tx/s',
      stats,
      procs: sampler.stop(),
    });
  }

  add(s: Omit<ScenarioResult, 'ratio'>): ScenarioResult {
    const api = s.measurements.find((m) => m.kind === 'api');
    const limit = s.measurements.find((m) => m.kind === 'limit');
    const result: ScenarioResult = {
      ...s,
      ...(api && limit && limit.stats.throughput > 0
        ? { ratio: api.stats.throughput / limit.stats.throughput }
        : {}),
    };
    for (const m of s.measurements) {
      if (m.kind === 'api' && m.stats.errorRate > 0.001)
        this.failures.push(`${s.id}: API error rate ${(m.stats.errorRate * 100).toFixed(2)} %`);
    }
    this.scenarios.push(result);
    return result;
  }
}

const defined = <T>(xs: (T | undefined)[]): T[] => xs.filter((x): x is T => x !== undefined);

async function provision(b: Bench): Promise<void> {
  const { plan, db } = b;
  b.progress.log(
    `provisioning: ${plan.tenants} tenants × ${1 + plan.usersPerTenant} users through the API, catalogs in SQL ...`,
  );
  await prepareBenchSchema(db);
  const main = await provisionMainTenants(
    b.setup,
    db,
    {
      runId: b.runId,
      tenants: plan.tenants,
      usersPerTenant: plan.usersPerTenant,
      adminEmail: b.target.admin.email,
      adminPassword: b.target.admin.password,
    },
    (m) => b.progress.log(m),
  );
  b.main = main.sessions;
  const catalogs = await seedCatalogs(db, { lo: 1, hi: plan.tenants }, plan.skus, plan.accounts);
  b.progress.log(
    `  catalogs: ${plan.tenants} × (${plan.skus} SKUs + ${plan.accounts} accounts) = ${catalogs.rows} rows in ${catalogs.seconds.toFixed(1)} s`,
  );
  b.peer = { n: PEER_N, ...(await seedPeerTenant(db, b.runId, PEER_N, plan.skus)) };
  await analyze(db);
  b.provisioning = {
    ...main.stats,
    sql: [{ what: 'main catalogs', rows: catalogs.rows, seconds: catalogs.seconds }],
  };
}

async function scenarioHttpFloor(b: Bench): Promise<void> {
  const api = await b.api(
    'API: GET /health/live via nginx → gateways',
    'req/s',
    b.plan.connections,
    healthOp(),
  );
  b.add({
    id: 'http-floor',
    group: 'http-floor',
    title: 'HTTP floor',
    what: 'GET /health/live through nginx and the gateways: no token, no database. The ceiling of the HTTP layers on this machine; every other scenario pays this plus its real work.',
    params: { connections: b.plan.connections },
    measurements: [api],
    extra: {},
    checks: [],
  });
}

async function scenarioReserve(b: Bench, hot: boolean): Promise<void> {
  const { plan } = b;
  const sessions = hot ? b.main.filter((s) => s.n === 1) : b.main;
  const skus = hot ? 1 : plan.skus;
  const counters: ReserveCounters = { replays: 0, replaysMarked: 0, rateLimitHeaders: false };
  const api = await b.api(
    `API: POST /v1/reservations (${sessions.length} users${hot ? ' of one tenant' : ` in ${plan.tenants} tenants`})`,
    'req/s',
    plan.connections,
    reserveOp(sessions, skus, counters, hot ? 0 : 50),
  );
  const limit = await b.limit([['reserve.sql', 1]], { t_lo: 1, t_hi: hot ? 1 : plan.tenants, skus }, 'tx/s');
  const peer = await b.direct('peer', skus);
  const ours = await b.direct('ours', skus);
  const checks = [
    `rate-limit headers ${counters.rateLimitHeaders ? 'present' : 'MISSING'} on responses (limits raised, still counted)`,
  ];
  if (!counters.rateLimitHeaders)
    b.failures.push(`${hot ? 'reserve-hot' : 'reserve-spread'}: no rate-limit headers`);
  if (!hot) {
    checks.push(
      `${counters.replaysMarked}/${counters.replays} idempotent replays answered 201 with Idempotent-Replayed: true`,
    );
  }
  const extra: Record<string, number | string> = {};
  if (peer && ours)
    extra['this design / peer (direct, same harness)'] =
      ours.stats.throughput / Math.max(peer.stats.throughput, 1e-9);
  b.add({
    id: hot ? 'reserve-hot' : 'reserve-spread',
    group: hot ? 'reserve-hot' : 'reserve-spread',
    title: hot ? 'Reservations on one hot SKU' : `Reservations on ${plan.skus.toLocaleString('en')} SKUs`,
    what: hot
      ? `Every request reserves 1 unit of the same SKU (one stock row) as one of the ${sessions.length} users of tenant 1; Idempotency-Key on each POST.`
      : `Each request reserves 1 unit of a random SKU out of ${plan.skus} in the warehouse of a random user's tenant (${plan.tenants} tenants, ${sessions.length} logged-in users); Idempotency-Key on each POST; every 50th request per connection is a retry with the same key and body (must replay).`,
    params: { connections: plan.connections, tenants: hot ? 1 : plan.tenants, skus },
    measurements: defined([api, limit, peer, ours]),
    extra,
    checks,
  });
}

async function postingLag(
  b: Bench,
  since: Date,
): Promise<{ n: number; p50: number; p95: number; p99: number; max: number; missing: number }> {
  return withClient(b.db.adminUrl, async (c) => {
    const [r] = await rows<{
      n: number;
      p50: number;
      p95: number;
      p99: number;
      max: number;
      missing: number;
    }>(
      c,
      `SELECT count(je.id)::int AS n, count(*) FILTER (WHERE je.id IS NULL)::int AS missing,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY x.lag) AS p50,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY x.lag) AS p95,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY x.lag) AS p99, max(x.lag) AS max
         FROM inventory.stock_movements sm
         LEFT JOIN accounting.journal_entries je
           ON je.tenant_id = sm.tenant_id AND je.source_type = 'stock_movement' AND je.source_id = sm.id
         CROSS JOIN LATERAL (SELECT (extract(epoch FROM je.created_at - sm.created_at) * 1000)::float8 AS lag) x
        WHERE sm.type = 'shipment' AND sm.created_at >= $1`,
      [since],
    );
    return r!;
  });
}

/** Polls every tenant's trial balance through the API until account 5000 shows exactly what was committed. */
async function drainThroughApi(
  b: Bench,
  timeoutMs: number,
): Promise<{ seconds: number; over: number; short: number }> {
  const t0 = performance.now();
  const tenants = [...b.expectedCogs.keys()];
  const sessionOf = new Map(tenants.map((n) => [n, b.main.find((s) => s.n === n)!]));
  for (;;) {
    const posted = await Promise.all(
      tenants.map(async (n) => {
        const r = await b.setup.callRetrying('GET', '/v1/trial-balance', { token: sessionOf.get(n)!.token });
        const line = (r.body as { lines?: { code: string; debit: number }[] } | undefined)?.lines?.find(
          (l) => l.code === '5000',
        );
        return { n, debit: line?.debit ?? 0 };
      }),
    );
    const over = posted.filter((p) => p.debit > b.expectedCogs.get(p.n)!).length;
    const short = posted.filter((p) => p.debit < b.expectedCogs.get(p.n)!).length;
    const elapsed = performance.now() - t0;
    if (short === 0 || elapsed > timeoutMs) return { seconds: elapsed / 1000, over, short };
    b.progress.update(`  waiting for postings: ${short} tenant(s) behind ...`);
    await sleep(250);
  }
}

async function scenarioCommitFlow(b: Bench): Promise<void> {
  const { plan } = b;
  const since = new Date(Date.now() - 1000);
  const backlog: [number, number][] = [];
  const t0 = Date.now();
  const poll = new Client({ connectionString: b.db.adminUrl });
  poll.on('error', () => undefined);
  await poll.connect();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const r = await poll
        .query<{ n: number }>(`SELECT count(*)::int AS n FROM inventory.outbox WHERE status = 'pending'`)
        .catch(() => undefined);
      if (r) backlog.push([(Date.now() - t0) / 1000, r.rows[0]?.n ?? 0]);
      await sleep(500);
    }
  })();
  let api: Measurement;
  let drain: { seconds: number; over: number; short: number };
  try {
    api = await b.api(
      `API: reserve → commit flow (2 POSTs, ${b.main.length} users in ${plan.tenants} tenants)`,
      'flows/s',
      plan.connections,
      commitFlowOp(b.main, plan.skus, b.expectedCogs),
    );
    drain = await drainThroughApi(b, 180_000);
  } finally {
    polling = false;
    await poller;
    await poll.end();
  }
  const lag = await postingLag(b, since);
  const limit = await b.limit(
    [['reserve-commit.sql', 1]],
    { t_lo: 1, t_hi: plan.tenants, skus: plan.skus },
    'flows/s',
  );
  const checks = [
    `trial balances: account 5000 of every tenant equals 100 × its commits ${drain.short === 0 && drain.over === 0 ? 'after the drain (exactly once)' : `— NOT: ${drain.short} short, ${drain.over} over`}`,
  ];
  if (drain.short || drain.over)
    b.failures.push(`reserve-commit: postings ${drain.short} short / ${drain.over} over`);
  if (lag.missing) b.failures.push(`reserve-commit: ${lag.missing} shipments without a journal entry`);
  b.add({
    id: 'reserve-commit',
    group: 'reserve-commit',
    title: 'Reserve → commit flows, postings through the queue',
    what: `Each flow reserves 1 unit of a random SKU and commits it (two POSTs with keys). Every commit writes a shipment movement and an outbox row; the worker relays it through the bull queue to accounting, which posts Dr 5000 / Cr 1300. Posting lag = journal entry created_at − movement created_at (from the database); drain = time after the load stops until every tenant's trial balance (polled through the API) shows all its commits.`,
    params: { connections: plan.connections, tenants: plan.tenants, skus: plan.skus },
    measurements: defined([api, limit]),
    extra: {
      'requests/s': api.stats.throughput * 2,
      'postings measured': lag.n,
      'posting lag p50 ms': lag.p50,
      'posting lag p95 ms': lag.p95,
      'posting lag p99 ms': lag.p99,
      'posting lag max ms': lag.max,
      'drain after load s': drain.seconds,
      'max outbox backlog': Math.max(0, ...backlog.map((x) => x[1])),
    },
    checks,
    series: { 'outbox backlog (pending events)': backlog },
  });
}

async function scenarioJournal(b: Bench, hot: boolean): Promise<void> {
  const { plan } = b;
  const sessions = hot ? b.main.filter((s) => s.n === 1) : b.main;
  const accts = hot ? 2 : plan.accounts;
  const api = await b.api(
    `API: POST /v1/journal-entries (${hot ? 'one tenant, the same 2 accounts' : `${plan.tenants} tenants × ${accts} accounts`})`,
    'req/s',
    plan.connections,
    journalOp(sessions, accts),
  );
  const limit = await b.limit([['journal.sql', 1]], { t_lo: 1, t_hi: hot ? 1 : plan.tenants, accts }, 'tx/s');
  b.add({
    id: hot ? 'journal-hot' : 'journal-spread',
    group: hot ? 'journal-hot' : 'journal-spread',
    title: hot ? 'Journal entries on a hot pair of accounts' : 'Journal entries spread over many accounts',
    what: hot
      ? 'Every entry debits one and credits the other of the same two accounts of tenant 1 (the hot-account case: balances are slot rows updated in the posting transaction).'
      : `Each entry debits and credits two random accounts out of ${accts} of a random user's tenant.`,
    params: { connections: plan.connections, tenants: hot ? 1 : plan.tenants, accounts: accts },
    measurements: defined([api, limit]),
    extra: {},
    checks: [],
  });
}

async function scenarioReadMix(b: Bench): Promise<void> {
  const { plan } = b;
  const api = await b.api(
    `API: read mix (${b.main.length} users in ${plan.tenants} tenants)`,
    'req/s',
    plan.connections,
    readMixOp(b.main, plan.skus, plan.accounts),
  );
  const limit = await b.limit(
    [
      ['read-stock.sql', READ_MIX.stock],
      ['read-product.sql', READ_MIX.product],
      ['read-account.sql', READ_MIX.account],
      ['read-journal.sql', READ_MIX.journal],
    ],
    { t_lo: 1, t_hi: plan.tenants, skus: plan.skus, accts: plan.accounts },
    'tx/s',
  );
  b.add({
    id: 'read-mix',
    group: 'read-mix',
    title: 'Read mix',
    what: `${READ_MIX.stock} % GET /v1/stock?product_id&warehouse_id, ${READ_MIX.product} % GET /v1/products/:id, ${READ_MIX.account} % GET /v1/accounts/:id (balance), ${READ_MIX.journal} % GET /v1/journal-entries?limit=20, as random users.`,
    params: { connections: plan.connections, tenants: plan.tenants },
    measurements: defined([api, limit]),
    extra: {},
    checks: [],
  });
}

async function scenarioScale(b: Bench): Promise<void> {
  const { plan, db } = b;
  let seeded = 0;
  const sql = { rows: 0, seconds: 0 };
  for (const n of [...plan.scales].sort((x, y) => x - y)) {
    if (n > seeded) {
      b.progress.log(
        `scale: seeding tenants ${seeded + 1}..${n} in SQL (${plan.scaleSkus} SKUs each) and logging their users in ...`,
      );
      for (let lo = seeded + 1; lo <= n; lo += 1000) {
        const hi = Math.min(n, lo + 999);
        const r = await seedScaleTenants(
          db,
          b.runId,
          { lo: SCALE_BASE + lo, hi: SCALE_BASE + hi },
          plan.scaleSkus,
        );
        sql.rows += r.rows;
        sql.seconds += r.seconds;
        b.progress.update(`  seeded ${hi}/${n} tenants`);
      }
      await analyze(db);
      const logins = await loginScaleTenants(
        b.setup,
        b.runId,
        { lo: SCALE_BASE + seeded + 1, hi: SCALE_BASE + n },
        (d) => b.progress.update(`  logged in ${d}/${n - seeded}`),
      );
      b.progress.log(`  ${logins.sessions.length} logins through the API in ${logins.seconds.toFixed(1)} s`);
      b.scale.push(...logins.sessions);
      seeded = n;
    }
    const sessions = b.scale.filter((s) => s.n <= SCALE_BASE + n);
    await refreshStale(b.setup, sessions);
    const api = await b.api(
      `API: POST /v1/reservations, ${n.toLocaleString('en')} tenants`,
      'req/s',
      plan.connections,
      reserveOp(sessions, plan.scaleSkus, { replays: 0, replaysMarked: 0, rateLimitHeaders: false }),
    );
    const limit = await b.limit(
      [['reserve.sql', 1]],
      { t_lo: SCALE_BASE + 1, t_hi: SCALE_BASE + n, skus: plan.scaleSkus },
      'tx/s',
    );
    b.add({
      id: `scale-${n}`,
      group: 'scale',
      title: `Reservations with ${n} tenants`,
      what: `The reservation scenario with ${n} tenants in the database, each with ${plan.scaleSkus} SKUs and one logged-in user; every request comes from a random one of the ${n} users.`,
      params: { x: n, tenants: n, skus: plan.scaleSkus, connections: plan.connections },
      measurements: defined([api, limit]),
      extra: {},
      checks: [],
    });
  }
  b.provisioning?.sql.push({ what: `scale tenants (${seeded})`, rows: sql.rows, seconds: sql.seconds });
  const pts = b.scenarios.filter((s) => s.group === 'scale');
  const first = pts[0];
  const last = pts[pts.length - 1];
  if (first && last && first !== last) {
    const a = first.measurements.find((m) => m.kind === 'api')!.stats;
    const z = last.measurements.find((m) => m.kind === 'api')!.stats;
    last.extra[`throughput at ${last.params.x} vs ${first.params.x} tenants`] = z.throughput / a.throughput;
    last.extra[`p95 at ${last.params.x} vs ${first.params.x} tenants`] = z.latency.p95 / a.latency.p95;
  }
}

async function scenarioSweep(b: Bench): Promise<void> {
  const { plan } = b;
  for (const c of plan.sweep) {
    const api = await b.api(
      `API: POST /v1/reservations, ${c} connections`,
      'req/s',
      c,
      reserveOp(b.main, plan.skus, { replays: 0, replaysMarked: 0, rateLimitHeaders: false }),
    );
    b.add({
      id: `sweep-${c}`,
      group: 'sweep',
      title: `Connection sweep: ${c}`,
      what: `Reservations on ${plan.skus} SKUs with ${c} concurrent connections (closed loop).`,
      params: { x: c, connections: c },
      measurements: [api],
      extra: {},
      checks: [],
    });
  }
  const pts = b.scenarios.filter((s) => s.group === 'sweep');
  let bend: string | undefined;
  for (let i = 1; i < pts.length; i++) {
    const p = pts[i - 1]!.measurements[0]!.stats;
    const q = pts[i]!.measurements[0]!.stats;
    if (q.throughput < p.throughput * 1.1 && q.latency.p95 > p.latency.p95 * 1.5) {
      bend = `throughput stops growing after ${pts[i - 1]!.params.x} connections (${p.throughput.toFixed(0)} → ${q.throughput.toFixed(0)} req/s) while p95 grows ${(q.latency.p95 / p.latency.p95).toFixed(1)}× (${p.latency.p95.toFixed(1)} → ${q.latency.p95.toFixed(1)} ms): beyond that, requests only queue`;
      break;
    }
  }
  const last = pts[pts.length - 1];
  if (last)
    last.extra['latency bends'] =
      bend ?? 'no bend within the sweep (throughput still grew or p95 stayed flat)';
}

function machine(postgres: string): BenchReport['machine'] {
  let osName = `${os.type()} ${os.release()}`;
  try {
    osName = /^PRETTY_NAME="?([^"\n]+)/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {
    // keep the kernel name
  }
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.versions.node,
    postgres,
    os: osName,
  };
}

/** Runs every enabled scenario one after another and writes the JSON, HTML and Markdown reports. */
export async function runBench(options: RunOptions): Promise<RunResult> {
  const { plan, progress } = options;
  const startedAt = new Date().toISOString();
  progress.log(
    plan.target ? `targeting ${plan.target} ...` : 'starting a private stack (this takes a few seconds) ...',
  );
  const target = plan.target
    ? connectTarget({
        base: plan.target,
        databaseUrl: plan.databaseUrl,
        redisUrl: plan.redisUrl,
        admin: plan.admin,
      })
    : await startTarget({
        database: options.database,
        gateways: plan.gateways,
        dbPool: plan.dbClients,
        profileDir: plan.profileDir,
        dataDir: path.join(plan.outDir, 'stack'),
        say: (m) => progress.log(`  [stack] ${m}`),
      });
  options.onTarget?.(() => target.stop());
  let bench: Bench | undefined;
  try {
    if (!target.db)
      throw new Error(
        'BENCH_TARGET needs BENCH_DATABASE_URL (a superuser URL on its database) to seed and measure',
      );
    progress.log(`stack: ${target.describe}`);
    const b = new Bench(plan, target, target.db, progress);
    bench = b;
    const [pgv] = await withClient(target.db.adminUrl, (c) =>
      rows<{ v: string }>(c, `SELECT split_part(version(), ' ', 2) AS v`),
    );
    const report = (): BenchReport => ({
      version: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      quick: plan.quick,
      machine: machine(`PostgreSQL ${pgv?.v ?? '?'}`),
      target: target.describe,
      plan: { ...plan, scenarios: [...plan.scenarios], admin: undefined, databaseUrl: undefined },
      provisioning: b.provisioning,
      scenarios: b.scenarios,
      notes: b.notes,
      failures: b.failures,
    });
    await provision(b);
    const steps: [string, () => Promise<void>][] = [
      ['http-floor', () => scenarioHttpFloor(b)],
      ['reserve-spread', () => scenarioReserve(b, false)],
      ['reserve-hot', () => scenarioReserve(b, true)],
      ['reserve-commit', () => scenarioCommitFlow(b)],
      ['journal-hot', () => scenarioJournal(b, true)],
      ['journal-spread', () => scenarioJournal(b, false)],
      ['read-mix', () => scenarioReadMix(b)],
      ['scale', () => scenarioScale(b)],
      ['sweep', () => scenarioSweep(b)],
    ];
    const enabled = steps.filter(([id]) => plan.scenarios.has(id));
    for (const [i, [id, run]] of enabled.entries()) {
      progress.log(`[${i + 1}/${enabled.length}] ${id}`);
      try {
        await run();
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        b.failures.push(`${id}: ${msg.split('\n')[0]}`);
        progress.log(`  FAILED: ${msg}`);
      }
    }
    b.notes.push(
      `the bench database had up to ${b.maxOwnConnections} connections open between phases (service pools + bench)`,
    );
    const final = report();
    return { report: final, files: writeReports(final, plan.outDir) };
  } finally {
    await bench?.setup.close();
    progress.log('stopping the stack ...');
    await target.stop();
  }
}

/** Writes `bench-<time>.{json,html,md}` and copies them to `latest.*`. */
export function writeReports(report: BenchReport, outDir: string): RunResult['files'] {
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = report.finishedAt.replace(/[:.]/g, '-');
  const base = path.join(outDir, `bench-${stamp}${report.quick ? '-quick' : ''}`);
  const files = { json: `${base}.json`, html: `${base}.html`, markdown: `${base}.md` };
  fs.writeFileSync(files.json, JSON.stringify(report, null, 2));
  fs.writeFileSync(files.html, renderHtml(report));
  fs.writeFileSync(files.markdown, `${renderMarkdown(report)}\n\n\`\`\`\n${renderConsole(report)}\n\`\`\`\n`);
  for (const [ext, file] of [
    ['json', files.json],
    ['html', files.html],
    ['md', files.markdown],
  ] as const) {
    fs.copyFileSync(file, path.join(outDir, `latest${report.quick ? '-quick' : ''}.${ext}`));
  }
  return files;
}
