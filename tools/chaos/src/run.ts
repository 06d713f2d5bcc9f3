import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { Client } from 'pg';
import { ROOT, stackConfigSchema, startStack, type Stack } from '@kv/stack';
import { freePort, startPrivateRedis, withUserAndDb, type PrivateRedis } from '@kv/testing';
import { analyseResponses, faultWindows, groupEvents, rel } from './analysis';
import { ApiClient, type ResponseEvent } from './client';
import {
  databaseChecks,
  failedJobs,
  overdueReservations,
  pendingOutbox,
  unexpectedAnswers,
  type Verdict,
} from './checks';
import { FaultInjector, planSchedule, type FaultRecord } from './faults';
import type { ChaosOptions } from './options';
import { startFaultyProxy, type FaultyProxy } from './proxy';
import type { ChaosReport } from './report';
import { formatFaults } from './report';
import { Rng } from './rng';
import { runBlock, runbookBlocks } from './runbook';
import { Session, Workload } from './workload';

const APPS = ['gateway', 'inventory', 'accounting', 'worker'];
const QUEUES = ['high', 'default', 'low'];
const QUEUE_PREFIX = 'bull';
const RECOVERY_TIMEOUT_MS = 60_000;

/**
 * Settings the apps get in a chaos run: smaller pools, and job recovery timings shorter than production so that
 * the short run settles within the CI budget. None of the guarantees depends on them: they only make a lost
 * job come back sooner.
 */
const CHAOS_APP_ENV: Record<string, string> = {
  // PostgreSQL is shared with other work on this machine (max_connections 100): keep the pools small.
  DB_POOL_MAX: '8',
  DATABASE_POOL_MAX: '8',
  RELAY_REDELIVER_AFTER_MS: '10000',
  QUEUE_LOCK_DURATION_MS: '15000',
  QUEUE_STALLED_INTERVAL_MS: '5000',
};

/** Builds the apps when a compiled entry point is missing (or when asked). */
function ensureBuilt(force: boolean, say: (m: string) => void): void {
  const missing = APPS.flatMap((a) =>
    ['main.js', 'migrate-main.js']
      .map((f) => path.join(ROOT, 'apps', a, 'dist', f))
      .filter((f) => !fs.existsSync(f)),
  );
  if (!force && missing.length === 0) return;
  say(
    force
      ? 'building the apps ...'
      : `building the apps (missing ${missing.map((m) => path.relative(ROOT, m)).join(', ')}) ...`,
  );
  const r = spawnSync(
    'pnpm',
    ['exec', 'turbo', 'run', 'build', '--filter=./apps/*', '--output-logs=errors-only'],
    {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
    },
  );
  if (r.status !== 0) throw new Error('building the apps failed (run `pnpm build` to see why)');
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `count` consecutive free ports (the stack numbers its gateways from the first one). */
async function freePortRange(count: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const first = await freePort();
    if (first + count > 65535) continue;
    let ok = true;
    for (let i = 1; i < count && ok; i++) ok = await portIsFree(first + i);
    if (ok) return first;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

/** The replica's host and port when `url` answers and is a standby, else why not. */
async function probeReplica(url: string | undefined): Promise<{ host: string; port: number } | string> {
  if (!url) return 'disabled (--no-replica)';
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    const r = await c.query<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
    if (!r.rows[0]?.standby) return `${new URL(url).host} is not a standby`;
    const u = new URL(url);
    return { host: u.hostname, port: Number(u.port || 5432) };
  } catch {
    return `no streaming replica at ${new URL(url).host} (.ci/setup-replica.sh creates one)`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Waiting + active + delayed + paused jobs of the bull queues. */
async function queueDepth(redis: Redis): Promise<number> {
  let total = 0;
  for (const q of QUEUES) {
    const k = `${QUEUE_PREFIX}:${q}`;
    const [wait, active, paused, delayed] = await Promise.all([
      redis.llen(`${k}:wait`),
      redis.llen(`${k}:active`),
      redis.llen(`${k}:paused`),
      redis.zcard(`${k}:delayed`),
    ]);
    total += wait + active + paused + delayed;
  }
  return total;
}

function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function dropDatabase(adminUrl: string, database: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** `label ×count (e.g. first item's key)` per distinct label, most frequent first. */
function countBy<T extends { key: string }>(writes: T[], label: (w: T) => string): string[] {
  const groups = new Map<string, { n: number; key: string }>();
  for (const w of writes) {
    const k = label(w);
    const g = groups.get(k) ?? { n: 0, key: w.key };
    g.n++;
    groups.set(k, g);
  }
  return [...groups.entries()]
    .sort((a, b) => b[1].n - a[1].n)
    .map(([k, g]) => `${k} ×${g.n} (e.g. ${g.key})`);
}

/** Resources to release, whatever happened. */
interface Running {
  stack?: Stack;
  redis?: PrivateRedis;
  proxies: FaultyProxy[];
  injector?: FaultInjector;
  db?: Client;
  queueRedis?: Redis;
}

async function release(
  r: Running,
  opts: ChaosOptions,
  database: string,
  keep: boolean,
  say: (m: string) => void,
) {
  await r.injector?.healAll().catch(() => undefined);
  await r.db?.end().catch(() => undefined);
  r.queueRedis?.disconnect();
  if (r.stack) {
    say('stopping the stack ...');
    await r.stack.stop().catch(() => undefined);
  }
  await r.redis?.kill().catch(() => undefined);
  await Promise.all(r.proxies.map((p) => p.close().catch(() => undefined)));
  if (keep) say(`kept database ${database}`);
  else await dropDatabase(opts.pgAdminUrl, database).catch(() => undefined);
}

/**
 * One chaos run: a private stack, tenants set up through the API, the workload with faults on a schedule,
 * settling, then the invariants. Never throws for a failed invariant (see the report's `pass`); throws when
 * the run itself could not be done (build, start-up, setup).
 */
export async function runChaos(
  opts: ChaosOptions,
  say: (m: string) => void,
  onStop: (cleanup: () => Promise<void>) => void,
): Promise<ChaosReport> {
  const runId = randomBytes(3).toString('hex');
  const database = `kvchaos_${runId}`;
  const rng = new Rng(opts.seed);
  say(`run ${runId}: seed ${opts.seed}, ${opts.durationS} s, database ${database}`);
  ensureBuilt(opts.build, say);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `kv-chaos-${runId}-`));
  // Same role password as `pnpm start`, so that starting the chaos stack does not change it for a running one.
  const sharedPassword = path.join(ROOT, '.kv-data', 'role-password');
  if (fs.existsSync(sharedPassword)) fs.copyFileSync(sharedPassword, path.join(dataDir, 'role-password'));
  const running: Running = { proxies: [] };
  let cleaned = false;
  const cleanup = async (keep: boolean) => {
    if (cleaned) return;
    cleaned = true;
    await release(running, opts, database, keep, say);
  };
  onStop(() => cleanup(opts.keep));

  try {
    running.redis = await startPrivateRedis();
    say(`private Redis on port ${running.redis.port}`);
    const ports = {
      inventory: await freePort(),
      accounting: await freePort(),
      worker: await freePort(),
      firstGateway: await freePortRange(opts.gateways),
    };
    const publicPort = await freePort();
    const slowProxy = await startFaultyProxy({ targetHost: '127.0.0.1', targetPort: ports.inventory });
    running.proxies.push(slowProxy);
    const appEnv: Record<string, string> = {
      ...CHAOS_APP_ENV,
      INVENTORY_URL: `http://127.0.0.1:${slowProxy.port}`,
    };
    const replica = await probeReplica(opts.replicaUrl);
    let replicaProxy: FaultyProxy | undefined;
    let replicaNote: string;
    if (typeof replica === 'string') {
      replicaNote = `none (${replica}); replica fault skipped`;
    } else {
      replicaProxy = await startFaultyProxy({ targetHost: replica.host, targetPort: replica.port });
      running.proxies.push(replicaProxy);
      const password = fs.existsSync(path.join(dataDir, 'role-password'))
        ? fs.readFileSync(path.join(dataDir, 'role-password'), 'utf8').trim()
        : undefined;
      appEnv.DATABASE_REPLICA_URLS = withUserAndDb(
        `postgres://127.0.0.1:${replicaProxy.port}/postgres`,
        'kv_app',
        database,
        password,
      );
      replicaNote = `${replica.host}:${replica.port} through a proxy on ${replicaProxy.port}`;
    }
    say(`replica: ${replicaNote}`);

    const adminPassword = `chaos-${randomBytes(9).toString('hex')}`;
    const config = stackConfigSchema.parse({
      PORT: String(publicPort),
      PLATFORM_ADMIN_PASSWORD: adminPassword,
      DATABASE_URL: opts.pgAdminUrl,
      REDIS_URL: running.redis.url,
      RATE_LIMIT_IP_PER_MIN: '1000000',
      RATE_LIMIT_LOGIN_PER_MIN: '100000',
      RATE_LIMIT_USER_PER_MIN: '1000000',
      RATE_LIMIT_TENANT_PER_MIN: '1000000',
      EDGE_RATE_LIMIT_RPS: '0',
      GATEWAY_INSTANCES: String(opts.gateways),
      LOG_LEVEL: 'info',
    });
    say('starting the stack ...');
    const stack = await startStack(config, {
      dataDir,
      say,
      ports,
      appEnv,
      database,
      readyTimeoutMs: 180_000,
    });
    running.stack = stack;
    const gatewayPorts = stack.hasNginx
      ? Array.from({ length: stack.gateways }, (_, i) => ports.firstGateway + i)
      : [publicPort];
    const readyUrls: Record<string, string> = {
      inventory: `http://127.0.0.1:${ports.inventory}/health/ready`,
      accounting: `http://127.0.0.1:${ports.accounting}/health/ready`,
      worker: `http://127.0.0.1:${ports.worker}/health/ready`,
    };
    gatewayPorts.forEach((p, i) => (readyUrls[`gateway-${i + 1}`] = `http://127.0.0.1:${p}/health/ready`));

    const events: ResponseEvent[] = [];
    const client = new ApiClient({
      base: stack.base,
      timeoutMs: opts.requestTimeoutMs,
      deadlineMs: opts.opDeadlineS * 1000,
      onResponse: (e) => {
        events.push(e);
        if (opts.verbose && (typeof e.status !== 'number' || e.status >= 500))
          say(`${e.route} -> ${e.status}${e.problem ? ` ${e.problem}` : ''} (${e.requestId})`);
      },
    });
    const platform = new Session(client, 'platform', stack.adminEmail, adminPassword, 'platform');
    await platform.login();
    const workload = new Workload(client, runId, opts.seed);
    say(`setting up ${opts.tenants} tenants through the API ...`);
    await workload.setup(opts.tenants, platform);

    const injector = new FaultInjector(
      {
        signal: (name, sig) => stack.supervisor.signal(name, sig),
        gateways: gatewayPorts.map((_, i) => `gateway-${i + 1}`),
        readyUrls,
        redis: running.redis,
        slowProxy,
        slowTarget: 'inventory',
        replicaProxy,
        pgAdminUrl: stack.pg.adminUrl,
        database,
        say,
      },
      rng,
    );
    running.injector = injector;
    const schedule = planSchedule(opts.durationS, rng);
    const faults: FaultRecord[] = [];
    const setupEvents = events.length;
    const t0 = Date.now();
    const end = t0 + opts.durationS * 1000;
    say(`workload: ${opts.clients} clients for ${opts.durationS} s with ${schedule.length} faults`);
    const work = workload.run(opts.clients);
    for (const planned of schedule) {
      const at = t0 + planned.atS * 1000;
      if (Date.now() < at) await sleep(at - Date.now());
      if (Date.now() > end - 2000) {
        faults.push({
          kind: planned.kind,
          target: '',
          detail: '',
          plannedAtS: planned.atS,
          startedAt: Date.now(),
          endedAt: Date.now(),
          skipped: 'not reached before the end of the run (earlier recoveries took longer)',
        });
        continue;
      }
      const rec = await injector.inject(planned);
      if (!rec.skipped) {
        const recovered = await injector.waitRecovered(RECOVERY_TIMEOUT_MS);
        if (recovered) rec.recoveredAt = recovered;
      }
      faults.push(rec);
      say(formatFaults([rec], t0)[0] ?? '');
    }
    if (Date.now() < end) await sleep(end - Date.now());
    say('workload: stopping the clients (they finish their current operation) ...');
    workload.stop();
    await work;
    const workEnd = Date.now();
    await injector.healAll();

    say('settling: waiting for readiness, the outbox relay, the queues and the expiry sweep ...');
    const db = new Client({ connectionString: databaseUrl(stack.pg.adminUrl, database) });
    db.on('error', () => undefined);
    await db.connect();
    running.db = db;
    const queueRedis = new Redis(running.redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    queueRedis.on('error', () => undefined);
    await queueRedis.connect();
    running.queueRedis = queueRedis;
    const settleStart = Date.now();
    let settleS: number | undefined;
    let lastState = '';
    for (;;) {
      const notReady = await injector.notReady();
      const pending = await pendingOutbox(db);
      const depth = await queueDepth(queueRedis);
      const overdue = await overdueReservations(db);
      lastState =
        `not ready: [${notReady.join(', ')}], outbox pending: inventory ${pending.inventory} / accounting ` +
        `${pending.accounting}, queued jobs: ${depth}, overdue reservations: ${overdue}`;
      if (!notReady.length && !pending.inventory && !pending.accounting && !depth && !overdue) {
        settleS = (Date.now() - settleStart) / 1000;
        break;
      }
      if (Date.now() - settleStart > opts.settleTimeoutS * 1000) break;
      await sleep(1000);
    }
    say(settleS === undefined ? `did not settle: ${lastState}` : `settled in ${settleS.toFixed(1)} s`);

    const apiTrialBalances: { tenant: string; tenantId: string; debit: number; credit: number }[] = [];
    for (const t of workload.tenants) {
      const r = await client.call({
        method: 'GET',
        path: '/v1/trial-balance',
        requestId: `chaos-${runId}-final-tb-${t.index}`,
        credentials: t.session,
      });
      if (r.kind === 'ok')
        apiTrialBalances.push({
          tenant: t.slug,
          tenantId: t.id,
          debit: Number(r.body.total_debit),
          credit: Number(r.body.total_credit),
        });
    }

    const verdicts: Verdict[] = [];
    verdicts.push({
      name: 'system settled: outbox drained, queues empty, expiry caught up, all ready',
      pass: settleS !== undefined,
      summary:
        settleS === undefined
          ? `not within ${opts.settleTimeoutS} s: ${lastState}`
          : `in ${settleS.toFixed(1)} s after the workload ended`,
      details: [],
    });
    verdicts.push(...(await databaseChecks(db, workload.ledger, apiTrialBalances)));

    const windows = faultWindows(faults, opts.faultGraceS * 1000, workEnd);
    const traffic = analyseResponses(events.slice(setupEvents), windows);
    verdicts.push({
      name: 'no 5xx except 503 during injected faults',
      pass:
        !traffic.non503ServerErrors.length &&
        !traffic.unexplained503.length &&
        !traffic.unexplainedFailures.length,
      summary:
        `${traffic.total} attempts; ${traffic.explained} 503/timeouts/connection errors inside fault windows ` +
        `(fault start to recovery + ${opts.faultGraceS} s); ${traffic.non503ServerErrors.length} other 5xx; ` +
        `${traffic.unexplained503.length} 503 and ${traffic.unexplainedFailures.length} timeouts/connection errors outside`,
      details: [
        ...groupEvents(traffic.non503ServerErrors, t0),
        ...groupEvents([...traffic.unexplained503, ...traffic.unexplainedFailures], t0).map(
          (l) => `outside faults: ${l}`,
        ),
      ],
    });
    const answers = unexpectedAnswers(workload.ledger.writes);
    const rywFailures = workload.ledger.readYourWrites.filter((r) => !r.ok);
    verdicts.push({
      name: 'every operation answered as expected (no unexpected 4xx, none unanswered, reads see own writes)',
      pass:
        !answers.unexpected.length &&
        !answers.gaveUp.length &&
        !rywFailures.length &&
        !workload.ledger.clientErrors.length,
      summary:
        `${answers.unexpected.length} unexpected refusals, ${answers.gaveUp.length} operations unanswered after ` +
        `${opts.opDeadlineS} s of retries, ${rywFailures.length}/${workload.ledger.readYourWrites.length} ` +
        `read-your-writes failures, ${workload.ledger.clientErrors.length} client errors`,
      details: [
        ...countBy(answers.unexpected, (w) => `${w.kind} answered ${w.status} ${w.problem ?? ''}`),
        ...answers.gaveUp.map((w) => `${w.kind} ${w.key}: no answer after ${w.attempts} attempts`),
        ...rywFailures.map((r) => r.detail),
        ...workload.ledger.clientErrors,
      ].slice(0, 8),
    });
    const injected = faults.filter((f) => !f.skipped);
    const notRecovered = injected.filter((f) => f.recoveredAt === undefined);
    const slowest = Math.max(
      0,
      ...injected.map((f) => ((f.recoveredAt ?? f.startedAt) - f.startedAt) / 1000),
    );
    verdicts.push({
      name: `every fault recovered (all components ready) within ${RECOVERY_TIMEOUT_MS / 1000} s`,
      pass: notRecovered.length === 0 && injected.length > 0,
      summary:
        `${injected.length} faults injected (${new Set(injected.map((f) => f.kind)).size} kinds), ` +
        `${faults.length - injected.length} skipped; slowest recovery ${slowest.toFixed(1)} s; ${notRecovered.length} not recovered`,
      details: notRecovered.map((f) => `${f.kind} ${f.target} at ${rel(f.startedAt, t0)}`),
    });

    const runbookPath = path.join(ROOT, 'docs', 'operations.md');
    if (fs.existsSync(runbookPath)) {
      const blocks = runbookBlocks(fs.readFileSync(runbookPath, 'utf8'));
      const env = {
        BASE: stack.base,
        GATEWAY: `http://127.0.0.1:${gatewayPorts[0]}`,
        INVENTORY: `http://127.0.0.1:${ports.inventory}`,
        ACCOUNTING: `http://127.0.0.1:${ports.accounting}`,
        WORKER: `http://127.0.0.1:${ports.worker}`,
        ADMIN_EMAIL: stack.adminEmail,
        ADMIN_PASSWORD: adminPassword,
      };
      const results = [];
      for (const b of blocks) results.push(await runBlock(b, env));
      const bad = results.filter((r) => !r.ok);
      verdicts.push({
        name: 'runbook commands of docs/operations.md work',
        pass: bad.length === 0 && blocks.length > 0,
        summary: `${blocks.length} sh blocks run against the settled stack; ${bad.length} failed`,
        details: bad.map(
          (r) => `${r.command.split('\n')[0]} ... -> ${r.exit}: ${r.output.replace(/\s+/g, ' ').slice(-300)}`,
        ),
      });
    }

    const pass = verdicts.every((v) => v.pass);
    const seconds = Math.max(1, (workEnd - t0) / 1000);
    const report: ChaosReport = {
      runId,
      seed: opts.seed,
      durationS: opts.durationS,
      clients: opts.clients,
      tenants: opts.tenants,
      gateways: stack.gateways,
      replica: replicaNote,
      startedAt: new Date(t0).toISOString(),
      t0,
      faults,
      requests: { total: traffic.total, byStatus: traffic.byStatus, perSecond: traffic.total / seconds },
      settleS,
      failedJobs: await failedJobs(db),
      verdicts,
      pass,
      logDir: stack.logDir,
    };
    fs.writeFileSync(path.join(dataDir, 'report.json'), JSON.stringify(report, null, 2));
    // Every operation and its outcome, for a post-mortem (kept with the logs when the run fails or --keep).
    fs.writeFileSync(path.join(dataDir, 'ledger.json'), JSON.stringify(workload.ledger));
    if (opts.reportPath) fs.writeFileSync(opts.reportPath, JSON.stringify(report, null, 2));
    await cleanup(opts.keep);
    if (pass && !opts.keep) fs.rmSync(dataDir, { recursive: true, force: true });
    return report;
  } catch (err) {
    await cleanup(opts.keep);
    say(`logs and data: ${dataDir}`);
    throw err;
  }
}
