import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { DEFAULT_REDIS_URL, deleteKeys } from '@kv/testing';
import {
  ChildWorker,
  entryCount,
  outboxCounts,
  setupDatabase,
  sleep,
  StubAccounting,
  StubInventory,
  uniqueBullPrefix,
  waitFor,
  workerEnv,
  writeMovements,
  type WorkerTestDb,
} from './helpers';

let t: WorkerTestDb;
let accounting: StubAccounting;
let inventory: StubInventory;
let redis: Redis;
const replicas: Record<string, ChildWorker> = {};
const prefix = uniqueBullPrefix('replicas');
const tenant = randomUUID();

function env(id: string): Record<string, string> {
  return workerEnv(
    t.db,
    { redisUrl: DEFAULT_REDIS_URL, prefix, accountingUrl: accounting.url, inventoryUrl: inventory.url },
    {
      WORKER_ID: id,
      EXPIRY_ENABLED: 'true',
      EXPIRY_INTERVAL_MS: '200',
      EXPIRY_LOCK_TTL_MS: '1000',
      QUEUE_HIGH_CONCURRENCY: '8',
    },
  );
}

async function completedBy(worker: ChildWorker): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text();
  const m = /worker_jobs_total\{queue="high",name="stock-movement",outcome="completed"[^}]*\} (\d+)/.exec(
    text,
  );
  return m ? Number(m[1]) : 0;
}

const sweeper = (requestId: string) => requestId.split(':')[1];

beforeAll(async () => {
  t = await setupDatabase('worker_replicas');
  accounting = await StubAccounting.start(t.admin);
  inventory = await StubInventory.start();
  redis = new Redis(DEFAULT_REDIS_URL);
  [replicas.a, replicas.b] = await Promise.all([ChildWorker.start(env('a')), ChildWorker.start(env('b'))]);
});

afterAll(async () => {
  await Promise.all(Object.values(replicas).map((r) => r.kill('SIGKILL')));
  await accounting?.stop();
  await inventory?.stop();
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await t?.close();
});

describe('two worker replicas', () => {
  it('process each event once between them', async () => {
    accounting.latencyMs = 5;
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      ids.push(...(await writeMovements(t.admin, tenant, 50, 50)));
      await sleep(50);
    }
    await waitFor(async () => (await outboxCounts(t.admin)).pending === 0, 20_000, 100);
    expect(await entryCount(t.admin)).toBe(400);
    for (const id of ids) expect(accounting.calls.get(id)).toHaveLength(1);
    const [a, b] = await Promise.all([completedBy(replicas.a!), completedBy(replicas.b!)]);
    expect(a + b).toBe(400);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
  }, 40_000);

  it('run the reservation expiry sweep on one replica at a time, and the other takes over when it dies', async () => {
    inventory.sweeps.length = 0;
    await sleep(2000);
    const before = [...inventory.sweeps];
    expect(before.length).toBeGreaterThanOrEqual(6); // about every 200 ms
    const leaders = new Set(before.map((s) => sweeper(s.requestId)));
    expect(leaders.size).toBe(1);
    expect(inventory.maxInFlight).toBe(1);
    expect(
      before.every((s) => s.kind === 'service' && s.tenantId === '00000000-0000-0000-0000-000000000000'),
    ).toBe(true);
    const leader = [...leaders][0]!;
    const follower = leader === 'a' ? 'b' : 'a';
    const killedAt = Date.now();
    await replicas[leader]!.kill('SIGKILL');
    await waitFor(
      () => inventory.sweeps.some((s) => s.at > killedAt && sweeper(s.requestId) === follower),
      5000,
      20,
    );
    const takeover = inventory.sweeps.find((s) => s.at > killedAt && sweeper(s.requestId) === follower)!;
    // Lease TTL 1 s + follower retry (~333 ms) + scheduling noise: within the 5 s the contract allows.
    expect(takeover.at - killedAt).toBeLessThan(4000);
    // The restarted replica stands by: the new leader keeps sweeping alone.
    replicas[leader] = await ChildWorker.start(env(leader));
    const from = Date.now();
    await sleep(1500);
    const after = inventory.sweeps.filter((s) => s.at > from);
    expect(new Set(after.map((s) => sweeper(s.requestId)))).toEqual(new Set([follower]));
    // Never two sweeps at once over the whole run.
    expect(inventory.maxInFlight).toBe(1);
  }, 40_000);
});
