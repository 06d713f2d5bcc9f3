// Runs against the real streaming replica on 127.0.0.1:5433 (created by `.ci/setup-replica.sh`). Every test that
// disturbs the replica (stop, pause) lives in this one file, so jest runs them serially, and restores it in `finally`.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { createTestDatabase, freePort, sleep, waitFor, type TestDatabase } from '@kv/testing';
import knexFactory, { type Knex } from 'knex';
import { Client } from 'pg';
import {
  compareLsn,
  createDbRouter,
  currentLsn,
  type DbRouter,
  type DbRouterOptions,
  type DecisionEvent,
  type RoutingDecision,
} from '../src';

const run = promisify(execFile);
const REPLICA_PORT = 5433;
const PG_VERSION =
  readdirSync('/etc/postgresql')
    .filter((v) => existsSync(`/etc/postgresql/${v}/replica`))
    .sort()
    .pop() ?? '15';
const REPLICA_SUPERUSER_URL = `postgres://postgres@127.0.0.1:${REPLICA_PORT}/postgres`;

const onPort = (url: string, port: number): string => {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
};

async function query<T>(url: string, sql: string): Promise<T[]> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

const replicaInRecovery = async (): Promise<boolean> => {
  try {
    const [row] = await query<{ r: boolean }>(REPLICA_SUPERUSER_URL, 'SELECT pg_is_in_recovery() AS r');
    return row?.r === true;
  } catch {
    return false;
  }
};

const pgCtl = (action: 'start' | 'stop') =>
  run('pg_ctlcluster', [
    '--skip-systemctl-redirect',
    PG_VERSION,
    'replica',
    action,
    ...(action === 'stop' ? ['-m', 'fast'] : []),
  ]);

async function ensureReplicaRunningAndReplaying(): Promise<void> {
  if (!(await replicaInRecovery())) {
    await pgCtl('start').catch(() => undefined);
    await waitFor(replicaInRecovery, 30_000, 100);
  }
  await query(REPLICA_SUPERUSER_URL, 'SELECT pg_wal_replay_resume()');
}

const warnings: string[] = [];
const logger = {
  info: () => undefined,
  warn: (message: string, fields?: Record<string, unknown>) => {
    warnings.push(`${message} ${JSON.stringify(fields ?? {})}`);
  },
};

let db: TestDatabase;
let writerUrl: string;
let replicaUrl: string;
let owner: Knex;
const routers: DbRouter[] = [];

function makeRouter(options: Partial<DbRouterOptions> = {}): { router: DbRouter; events: DecisionEvent[] } {
  const events: DecisionEvent[] = [];
  const router = createDbRouter({
    writer: writerUrl,
    readers: [replicaUrl],
    logger,
    onDecision: (e) => events.push(e),
    ...options,
  });
  routers.push(router);
  return { router, events };
}

const count = (events: DecisionEvent[], decision: RoutingDecision) =>
  events.filter((e) => e.decision === decision).length;

async function readCounter(k: Knex): Promise<{ value: number; port: number; recovery: boolean }> {
  const r = await k.raw(
    'SELECT value, inet_server_port() AS port, pg_is_in_recovery() AS recovery FROM counter WHERE id = 1',
  );
  const row = r.rows[0];
  return { value: Number(row.value), port: Number(row.port), recovery: row.recovery };
}

async function waitForReplicaUp(router: DbRouter, minLsn?: string): Promise<void> {
  await waitFor(
    async () => {
      const h = await router.checkNow();
      const r = h.replicas[0]!;
      return r.status === 'up' && (minLsn === undefined || compareLsn(r.replayLsn!, minLsn) >= 0);
    },
    30_000,
    50,
  );
}

beforeAll(async () => {
  if (!(await replicaInRecovery())) {
    throw new Error(
      `no streaming replica on 127.0.0.1:${REPLICA_PORT}: run .ci/setup-replica.sh (as root) first`,
    );
  }
  await query(REPLICA_SUPERUSER_URL, 'SELECT pg_wal_replay_resume()');
  db = await createTestDatabase('dbrouter');
  writerUrl = db.urls.owner;
  replicaUrl = onPort(writerUrl, REPLICA_PORT);
  owner = knexFactory({ client: 'pg', connection: writerUrl, pool: { min: 0, max: 2 } });
  await owner.schema.createTable('counter', (t) => {
    t.integer('id').primary();
    t.bigInteger('value').notNullable();
  });
  await owner('counter').insert({ id: 1, value: 0 });
  // The database and table were created on the primary: wait until the replica has replayed them.
  await waitFor(
    async () => (await query<{ id: number }>(replicaUrl, 'SELECT id FROM counter')).length === 1,
    30_000,
    100,
  );
});

afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
  await ensureReplicaRunningAndReplaying();
  await owner?.destroy();
  await db?.drop();
});

describe('db-router against a real streaming replica', () => {
  it('sends reads without an LSN to the replica, which really is the standby on 5433', async () => {
    const { router, events } = makeRouter();
    const health = await router.checkNow();
    expect(health.status).toBe('healthy');
    expect(health.replicas[0]).toMatchObject({ name: `127.0.0.1:${REPLICA_PORT}/${db.name}`, status: 'up' });

    for (let i = 0; i < 20; i++) {
      const viaRead = await router.read((k) => readCounter(k));
      expect(viaRead).toMatchObject({ port: REPLICA_PORT, recovery: true });
      const viaReader = await readCounter(router.reader());
      expect(viaReader).toMatchObject({ port: REPLICA_PORT, recovery: true });
    }
    expect(router.stats().decisions.replica).toBe(40);
    expect(count(events, 'replica')).toBe(40);
    expect(
      events.every((e) => e.decision !== 'replica' || e.replica === `127.0.0.1:${REPLICA_PORT}/${db.name}`),
    ).toBe(true);
    expect(await readCounter(router.writer())).toMatchObject({ port: 5432, recovery: false });
  });

  it('never returns stale data to a read carrying the LSN of the write just before it (1,000 iterations)', async () => {
    const { router, events } = makeRouter({ lsnCheck: 'recheck', healthCheckIntervalMs: 50 });
    await router.checkNow();
    const stale: string[] = [];
    let replicaReads = 0;
    for (let i = 1; i <= 1_000; i++) {
      // Half the commits are asynchronous: the commit returns before its WAL is flushed, which is why the LSN is
      // taken from the insert position.
      await router.writer().transaction(async (trx) => {
        if (i % 2 === 0) await trx.raw('SET LOCAL synchronous_commit = off');
        await trx('counter').where({ id: 1 }).update({ value: i });
      });
      const lsn = await router.currentLsn();
      const seen = await router.read((k) => readCounter(k), { minLsn: lsn });
      if (seen.value !== i)
        stale.push(`iteration ${i}: saw ${seen.value} on port ${seen.port} with minLsn ${lsn}`);
      if (seen.port === REPLICA_PORT) replicaReads += 1;
    }
    expect(stale).toEqual([]);
    expect(events).toHaveLength(1_000);
    expect(count(events, 'replica')).toBe(replicaReads);
    expect(count(events, 'replica') + count(events, 'primary_lsn_not_caught_up')).toBe(1_000);
    // The recheck lets most of them go to the replica once it has replayed the write (it usually has).
    expect(replicaReads).toBeGreaterThan(0);
  });

  it.each(['cached', 'verify'] as const)(
    'never returns stale data in %s mode, through read() and reader() (300 iterations each)',
    async (lsnCheck) => {
      const { router, events } = makeRouter({ lsnCheck, healthCheckIntervalMs: 20 });
      await router.checkNow();
      const stale: string[] = [];
      const start = Number((await owner('counter').where({ id: 1 }).first()).value);
      for (let n = 1; n <= 300; n++) {
        const i = start + n;
        await router.writer()('counter').where({ id: 1 }).update({ value: i });
        const lsn = await currentLsn(router.writer());
        const a = await router.read((k) => readCounter(k), { minLsn: lsn });
        const b = await readCounter(router.reader({ minLsn: lsn }));
        if (a.value !== i || b.value !== i)
          stale.push(`value ${i}: read() saw ${a.value}@${a.port}, reader() saw ${b.value}@${b.port}`);
      }
      expect(stale).toEqual([]);
      expect(count(events, 'primary_fallback_after_error')).toBe(0);
      expect(count(events, 'primary_no_healthy_replica')).toBe(0);
      // verify mode checks the replica's position in the read's own transaction, so many reads still go there
      if (lsnCheck === 'verify') expect(count(events, 'replica')).toBeGreaterThan(0);
    },
  );

  it('sends a read with an LSN to the replica once a poll has seen it replay past that LSN', async () => {
    const { router, events } = makeRouter();
    await router.writer()('counter').where({ id: 1 }).increment('value', 1);
    const lsn = await router.currentLsn();
    const expected = Number((await router.writer()('counter').where({ id: 1 }).first()).value);
    await waitForReplicaUp(router, lsn);
    const seen = await readCounter(router.reader({ minLsn: lsn }));
    expect(seen).toEqual({ value: expected, port: REPLICA_PORT, recovery: true });
    expect(events.at(-1)).toMatchObject({ decision: 'replica', minLsn: lsn });
  });

  it('refuses currentLsn() inside an open transaction, where the commit record does not exist yet', async () => {
    const { router } = makeRouter({ readers: [] });
    await router.writer().transaction(async (trx) => {
      await expect(currentLsn(trx)).rejects.toThrow(/after commit/);
    });
    expect(compareLsn(await currentLsn(router.writer()), '0/0')).toBe(1);
  });

  it('skips a replica whose replay is paused: reads with the new LSN go to the primary and see the fresh value', async () => {
    const { router, events } = makeRouter({ lsnCheck: 'recheck', healthCheckIntervalMs: 50 });
    const lagged = makeRouter({ maxLagBytes: 1_000, healthCheckIntervalMs: 50 });
    await waitForReplicaUp(router);
    await waitForReplicaUp(lagged.router);
    try {
      await query(REPLICA_SUPERUSER_URL, 'SELECT pg_wal_replay_pause()');
      await waitFor(
        async () =>
          (
            await query<{ s: string }>(REPLICA_SUPERUSER_URL, 'SELECT pg_get_wal_replay_pause_state() AS s')
          )[0]?.s === 'paused',
        10_000,
      );
      let expected = 0;
      let lsn = '0/0';
      for (let i = 0; i < 50; i++) {
        const [row] = await router
          .writer()('counter')
          .where({ id: 1 })
          .increment('value', 1)
          .returning('value');
        expected = Number(row.value);
        lsn = await router.currentLsn();
      }
      await sleep(200); // several polls happen while paused: the replica must still not be used for this LSN

      const viaRead = await router.read((k) => readCounter(k), { minLsn: lsn });
      expect(viaRead).toEqual({ value: expected, port: 5432, recovery: false });
      const viaReader = await readCounter(router.reader({ minLsn: lsn }));
      expect(viaReader).toEqual({ value: expected, port: 5432, recovery: false });
      expect(events.slice(-2).map((e) => e.decision)).toEqual([
        'primary_lsn_not_caught_up',
        'primary_lsn_not_caught_up',
      ]);
      // The replica is still up (just behind) for reads that carry no LSN...
      expect((await router.read((k) => readCounter(k))).port).toBe(REPLICA_PORT);

      // ...unless a lag limit says it is too far behind: then it is skipped for every read, and readiness degrades.
      const health = await lagged.router.checkNow();
      expect(health.status).toBe('degraded');
      expect(health.replicas[0]!.status).toBe('lagging');
      expect(health.replicas[0]!.lagBytes).toBeGreaterThan(1_000);
      const stale = await lagged.router.read((k) => readCounter(k));
      expect(stale).toEqual({ value: expected, port: 5432, recovery: false });
      expect(lagged.events.at(-1)!.decision).toBe('primary_no_healthy_replica');
    } finally {
      await query(REPLICA_SUPERUSER_URL, 'SELECT pg_wal_replay_resume()');
    }
    // Once replay resumes, both routers use the replica again.
    const lsn = await router.currentLsn();
    await waitForReplicaUp(router, lsn);
    await waitForReplicaUp(lagged.router, lsn);
    expect((await router.read((k) => readCounter(k), { minLsn: lsn })).port).toBe(REPLICA_PORT);
  });

  it('skips a dead replica, re-checking it only after an exponential backoff, and reports readiness as degraded', async () => {
    const deadUrl = onPort(writerUrl, await freePort());
    const { router, events } = makeRouter({
      readers: [deadUrl],
      healthCheckIntervalMs: 20,
      backoff: { initialMs: 100, maxMs: 10_000, factor: 2 },
    });
    const health = await router.checkNow();
    expect(health.status).toBe('degraded');
    expect(health.writer.status).toBe('up');
    expect(health.replicas[0]!.status).toBe('down');
    const failuresBefore = health.replicas[0]!.consecutiveFailures;
    expect(failuresBefore).toBeGreaterThanOrEqual(1);
    expect(health.replicas[0]!.error).toMatch(/ECONNREFUSED/);
    expect(health.replicas[0]!.nextCheckAt).not.toBeNull();
    expect(health.detail).not.toMatch(/postgres:\/\//);

    for (let i = 0; i < 10; i++) expect((await router.read((k) => readCounter(k))).port).toBe(5432);
    expect(count(events, 'primary_no_healthy_replica')).toBe(10);

    // ~1.5 s at a 20 ms interval is ~75 ticks; with doubling backoff (200, 400, 800 ms...) only ~3 more checks happen.
    await sleep(1_500);
    const moreChecks = router.health().replicas[0]!.consecutiveFailures - failuresBefore;
    expect(moreChecks).toBeGreaterThanOrEqual(1);
    expect(moreChecks).toBeLessThanOrEqual(6);
  });

  it('degrades to the primary with no failed read while the replica is stopped, and uses it again once restarted', async () => {
    const { router, events } = makeRouter({
      healthCheckIntervalMs: 1_000,
      backoff: { initialMs: 100, maxMs: 500 },
    });
    await waitForReplicaUp(router);
    const failures: unknown[] = [];
    const ports = { before: new Set<number>(), after: new Set<number>() };
    let reads = 0;
    let stoppedAt = Number.POSITIVE_INFINITY;
    // Keep reading until 1.5 s after the stop returned (stopping can take seconds on a loaded machine).
    const hardDeadline = Date.now() + 30_000;
    const worker = async () => {
      while (Date.now() < Math.min(stoppedAt + 1_500, hardDeadline)) {
        const startedAt = Date.now();
        try {
          const seen = await router.read((k) => readCounter(k));
          reads += 1;
          (startedAt > stoppedAt ? ports.after : ports.before).add(seen.port);
        } catch (err) {
          failures.push(err);
        }
      }
    };
    try {
      const workers = Array.from({ length: 4 }, () => worker());
      await sleep(600);
      await pgCtl('stop');
      stoppedAt = Date.now();
      await Promise.all(workers);
      expect(failures).toEqual([]);
      expect(reads).toBeGreaterThan(100);
      expect(ports.before.has(REPLICA_PORT)).toBe(true);
      expect([...ports.after]).toEqual([5432]);
      expect(count(events, 'primary_fallback_after_error')).toBeGreaterThanOrEqual(1);
      expect(router.stats().decisions.primary_fallback_after_error).toBe(
        count(events, 'primary_fallback_after_error'),
      );
      expect(count(events, 'primary_no_healthy_replica')).toBeGreaterThan(0);
      expect(router.health()).toMatchObject({ status: 'degraded', replicas: [{ status: 'down' }] });
    } finally {
      await ensureReplicaRunningAndReplaying();
    }
    // Back in recovery: the router notices after its backoff and routes reads (even read-your-writes) to it again.
    const lsn = await router.currentLsn();
    await waitForReplicaUp(router, lsn);
    const seen = await router.read((k) => readCounter(k), { minLsn: lsn });
    expect(seen).toMatchObject({ port: REPLICA_PORT, recovery: true });
    expect(router.health().status).toBe('healthy');
  });

  it('does not trust the cached replay position of a replica that restarted between two polls', async () => {
    const { router, events } = makeRouter({ healthCheckIntervalMs: 60_000 });
    const firstWarning = warnings.length;
    const [row] = await router.writer()('counter').where({ id: 1 }).increment('value', 1).returning('value');
    const lsn = await router.currentLsn();
    await waitForReplicaUp(router, lsn);
    expect((await router.read((k) => readCounter(k), { minLsn: lsn })).port).toBe(REPLICA_PORT);
    try {
      await pgCtl('stop');
    } finally {
      await ensureReplicaRunningAndReplaying();
    }
    // No poll has run since (60 s interval): the cache still says "past lsn", but the server is a new postmaster.
    const seen = await router.read((k) => readCounter(k), { minLsn: lsn });
    expect(seen).toEqual({ value: Number(row.value), port: 5432, recovery: false });
    expect(events.at(-1)).toMatchObject({ decision: 'primary_fallback_after_error', minLsn: lsn });
    const mine = warnings.slice(firstWarning);
    expect(mine.some((w) => w.includes('restarted since its last poll'))).toBe(true);
    expect(mine.some((w) => w.includes('replica is down'))).toBe(false);
    // The new connection corrected the cache, so the replica stays up and is used again without waiting for a poll.
    expect(router.health().replicas[0]!.status).toBe('up');
    const again = await router.read((k) => readCounter(k));
    expect(again).toMatchObject({ value: Number(row.value), port: REPLICA_PORT });
  });

  it('counts every routing decision in stats() and through onDecision', async () => {
    const { router, events } = makeRouter({
      readers: [replicaUrl],
      lsnCheck: 'cached',
      healthCheckIntervalMs: 60_000,
    });
    await router.checkNow();
    await router.read((k) => readCounter(k));
    router.reader();
    await router.writer()('counter').where({ id: 1 }).increment('value', 1);
    const lsn = await router.currentLsn();
    await router.read((k) => readCounter(k), { minLsn: lsn }); // the last poll predates this write
    const none = makeRouter({ readers: [] });
    await none.router.read((k) => readCounter(k));

    expect(router.stats().decisions).toEqual({
      replica: 2,
      primary_lsn_not_caught_up: 1,
      primary_no_healthy_replica: 0,
      primary_fallback_after_error: 0,
    });
    expect(events.map((e) => e.decision)).toEqual(['replica', 'replica', 'primary_lsn_not_caught_up']);
    expect(events[2]).toEqual({ decision: 'primary_lsn_not_caught_up', minLsn: lsn });
    expect(none.router.stats().decisions.primary_no_healthy_replica).toBe(1);
    expect(none.events).toEqual([{ decision: 'primary_no_healthy_replica' }]);
  });

  it('close() destroys every pool and stops the checker', async () => {
    const applicationName = `dbrouter-close-${process.pid}`;
    const { router } = makeRouter({ pool: { applicationName, min: 1 }, healthCheckIntervalMs: 20 });
    await router.checkNow();
    await router.read((k) => readCounter(k));
    await router.writer().raw('SELECT 1');
    const countConnections = async (url: string) =>
      Number(
        (
          await query<{ n: string }>(
            url,
            `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${applicationName}'`,
          )
        )[0]!.n,
      );
    expect(await countConnections(db.urls.admin)).toBeGreaterThan(0);
    expect(await countConnections(REPLICA_SUPERUSER_URL)).toBeGreaterThan(0);
    await router.close();
    await router.close();
    await waitFor(
      async () =>
        (await countConnections(db.urls.admin)) === 0 &&
        (await countConnections(REPLICA_SUPERUSER_URL)) === 0,
      5_000,
    );
    expect(() => router.reader()).toThrow(/closed/);
    await expect(router.read(() => Promise.resolve(1))).rejects.toThrow(/closed/);
  });
});
