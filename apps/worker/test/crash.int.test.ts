import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { DEFAULT_REDIS_URL, deleteKeys, uniquePrefix } from '@kv/testing';
import { createQueues, QUEUE_NAMES, type QueueName, type WorkerQueue } from '../src/queues/queues';
import {
  ChildWorker,
  outboxCounts,
  postingCounts,
  queueCounts,
  type ServiceProcess,
  setupDatabase,
  sleep,
  startAccounting,
  uniqueBullPrefix,
  waitFor,
  workerEnv,
  writeMovements,
  type WorkerTestDb,
} from './helpers';

let t: WorkerTestDb;
let accounting: ServiceProcess;
let redis: Redis;
let probe: Record<QueueName, WorkerQueue>;
let env: Record<string, string>;
const children: ChildWorker[] = [];
const prefix = uniqueBullPrefix('crash');
const accountingPrefix = uniquePrefix('acct-crash');
const tenant = randomUUID();

/** Events accounting answered as duplicates so far (a second delivery of an applied event). */
async function duplicates(): Promise<number> {
  const text = await (await fetch(`${accounting.url}/metrics`)).text();
  const m = /accounting_stock_events_total\{result="duplicate"[^}]*\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

async function active(): Promise<number> {
  return (await probe.high.getJobCounts()).active;
}

beforeAll(async () => {
  t = await setupDatabase('worker_crash', ['inventory']);
  accounting = await startAccounting(t.db, accountingPrefix);
  redis = new Redis(DEFAULT_REDIS_URL);
  probe = createQueues({
    redisUrl: DEFAULT_REDIS_URL,
    prefix,
    attempts: { high: 1, default: 1, low: 1 },
    backoffBaseMs: 1,
    backoffMaxMs: 1,
    lockDurationMs: 30_000,
    lockRenewMs: 0,
    stalledIntervalMs: 30_000,
    maxStalledCount: 1,
  });
  env = workerEnv(
    t.db,
    {
      redisUrl: DEFAULT_REDIS_URL,
      prefix,
      accountingUrl: accounting.url,
      inventoryUrl: 'http://127.0.0.1:9',
    },
    {
      // A killed worker's jobs come back after their lock (2 s) runs out and the next stalled check (1 s).
      QUEUE_LOCK_DURATION_MS: '2000',
      QUEUE_LOCK_RENEW_MS: '500',
      QUEUE_STALLED_INTERVAL_MS: '1000',
      QUEUE_MAX_STALLED_COUNT: '10',
      HTTP_TIMEOUT_MS: '1500',
      RELAY_REDELIVER_AFTER_MS: '3000',
      RELAY_SCHEMAS: 'inventory',
    },
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await Promise.all(QUEUE_NAMES.map((q) => probe?.[q].close()));
  await accounting?.kill('SIGTERM');
  await deleteKeys(redis, prefix);
  await deleteKeys(redis, accountingPrefix);
  redis.disconnect();
  await t?.close();
});

describe('a worker killed with SIGKILL in the middle of processing', () => {
  it('still posts each of 1,000 movements exactly once, drains the outbox and leaves nothing queued', async () => {
    let current = await ChildWorker.start(env);
    children.push(current);
    const ids: string[] = [];
    const producing = (async () => {
      for (let i = 0; i < 40; i++) {
        ids.push(...(await writeMovements(t.admin, tenant, 25, 25)));
        await sleep(150);
      }
    })();
    let kills = 0;
    let killedMidJob = 0;
    while (kills < 4) {
      await sleep(600 + Math.random() * 600);
      await waitFor(async () => (await active()) > 0, 5000, 5).catch(() => undefined);
      if ((await active()) > 0) killedMidJob += 1;
      await current.kill('SIGKILL');
      kills += 1;
      current = await ChildWorker.start(env);
      children.push(current);
    }
    await producing;
    expect(ids).toHaveLength(1000);
    expect(killedMidJob).toBeGreaterThanOrEqual(2);
    await waitFor(async () => (await outboxCounts(t.admin)).pending === 0, 60_000, 200);
    expect(await outboxCounts(t.admin)).toEqual({ pending: 0, done: 1000 });
    expect(await postingCounts(t.admin)).toEqual({ entries: 1000, missing: 0, duplicated: 0 });
    await waitFor(
      async () => {
        const c = await queueCounts(DEFAULT_REDIS_URL, prefix);
        return c.high!.waiting + c.high!.active + c.high!.delayed + c.high!.failed === 0;
      },
      10_000,
      200,
    );
    expect(await t.admin('worker.failed_jobs').count({ n: '*' }).first()).toEqual({ n: '0' });
    process.stdout.write(
      `crash test: ${kills} kills (${killedMidJob} with jobs active), ${await duplicates()} events delivered again (answered duplicate)\n`,
    );
  }, 120_000);

  it('on SIGTERM finishes the active jobs, exits 0 and leaves no job behind', async () => {
    const current = children[children.length - 1]!;
    const duplicatesBefore = await duplicates();
    await writeMovements(t.admin, tenant, 200, 200);
    await waitFor(async () => (await active()) > 0, 5000, 5);
    const code = await current.kill('SIGTERM');
    expect(code).toBe(0);
    // The jobs that were running were finished, not abandoned: none is left active in Redis.
    expect(await active()).toBe(0);
    const next = await ChildWorker.start(env);
    children.push(next);
    await waitFor(async () => (await outboxCounts(t.admin)).pending === 0, 30_000, 100);
    expect(await postingCounts(t.admin)).toEqual({ entries: 1200, missing: 0, duplicated: 0 });
    // Exactly once in effect is asserted above. Re-deliveries answered "duplicate" are not asserted to be
    // zero: on a loaded machine a posting call can time out after accounting committed, and the retry is
    // (correctly) answered as a duplicate. They are reported for the record.
    process.stdout.write(`sigterm test: ${(await duplicates()) - duplicatesBefore} events delivered again\n`);
  }, 60_000);
});
