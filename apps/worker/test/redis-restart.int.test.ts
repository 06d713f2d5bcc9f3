import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import {
  DEFAULT_REDIS_URL,
  deleteKeys,
  startPrivateRedis,
  uniquePrefix,
  type PrivateRedis,
} from '@kv/testing';
import { createApp } from '../src/app';
import {
  outboxCounts,
  postingCounts,
  queueCounts,
  type ServiceProcess,
  setupDatabase,
  sleep,
  startAccounting,
  startInProcess,
  uniqueBullPrefix,
  waitFor,
  workerEnv,
  writeMovements,
  type InProcessWorker,
  type WorkerTestDb,
} from './helpers';

let t: WorkerTestDb;
let accounting: ServiceProcess;
let privateRedis: PrivateRedis;
let shared: Redis;
let w: InProcessWorker;
const prefix = uniqueBullPrefix('redis');
const accountingPrefix = uniquePrefix('acct-redis');
const tenant = randomUUID();

beforeAll(async () => {
  t = await setupDatabase('worker_redis', ['inventory']);
  // Accounting keeps the shared Redis; only the worker's (private) Redis is restarted.
  accounting = await startAccounting(t.db, accountingPrefix);
  shared = new Redis(DEFAULT_REDIS_URL);
  privateRedis = await startPrivateRedis();
  // The redelivery timeout is long (60 s): recovery must come from noticing the data loss, not from it.
  const env = workerEnv(
    t.db,
    { redisUrl: privateRedis.url, prefix, accountingUrl: accounting.url, inventoryUrl: 'http://127.0.0.1:9' },
    { RELAY_REDELIVER_AFTER_MS: '60000', RELAY_SCHEMAS: 'inventory' },
  );
  w = startInProcess(env);
}, 60_000);

afterAll(async () => {
  await w?.stop();
  await accounting?.kill('SIGTERM');
  await privateRedis?.kill();
  await deleteKeys(shared, accountingPrefix);
  shared.disconnect();
  await t?.close();
});

describe('Redis restarted without its data while movements flow', () => {
  it('posts every one of 500 movements exactly once', async () => {
    const producing = (async () => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        ids.push(...(await writeMovements(t.admin, tenant, 25, 25)));
        await sleep(100);
      }
      return ids;
    })();
    await waitFor(async () => (await outboxCounts(t.admin)).done > 50, 10_000, 20);
    const before = await outboxCounts(t.admin);
    await privateRedis.kill();
    const app = createApp(w.deps);
    const down = await request(app).get('/health/ready');
    expect(down.status).toBe(503);
    expect(down.body.checks.redis.status).toBe('unhealthy');
    await sleep(1500);
    await privateRedis.start();
    const ids = await producing;
    expect(ids).toHaveLength(500);
    expect(before.done).toBeLessThan(500);
    await waitFor(async () => (await outboxCounts(t.admin)).pending === 0, 30_000, 200);
    expect(await postingCounts(t.admin)).toEqual({ entries: 500, missing: 0, duplicated: 0 });
    const c = await queueCounts(privateRedis.url, prefix);
    expect(c.high!.waiting + c.high!.active + c.high!.delayed + c.high!.failed).toBe(0);
    // Once at the first start (no sentinel yet), once after the restart.
    expect((await w.deps.workerMetrics.redisDataLoss.get()).values[0]?.value).toBeGreaterThanOrEqual(2);
    await waitFor(async () => (await request(app).get('/health/ready')).status === 200, 5000);
  }, 60_000);
});
