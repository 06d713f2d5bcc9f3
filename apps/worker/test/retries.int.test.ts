import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import request from 'supertest';
import { DEFAULT_REDIS_URL, deleteKeys } from '@kv/testing';
import { createApp } from '../src/app';
import {
  codec,
  entryCount,
  outboxCounts,
  setupDatabase,
  sleep,
  startInProcess,
  StubAccounting,
  uniqueBullPrefix,
  waitFor,
  workerEnv,
  writeMovements,
  type InProcessWorker,
  type WorkerTestDb,
} from './helpers';

let t: WorkerTestDb;
let stub: StubAccounting;
let w: InProcessWorker;
let redis: Redis;
const prefix = uniqueBullPrefix('retries');
const tenant = randomUUID();

function identity(roles: string[]): string {
  return codec.sign({
    kind: 'user',
    tenantId: randomUUID(),
    userId: randomUUID(),
    roles,
    permissions: [],
    attributes: {},
    requestId: 'test',
  });
}

beforeAll(async () => {
  t = await setupDatabase('worker_retries');
  stub = await StubAccounting.start(t.admin);
  redis = new Redis(DEFAULT_REDIS_URL);
  const env = workerEnv(
    t.db,
    { redisUrl: DEFAULT_REDIS_URL, prefix, accountingUrl: stub.url, inventoryUrl: 'http://127.0.0.1:9' },
    // 6 attempts with 500 ms base: retries after ~0.5, 1, 2, 4, 8 s (±25 %): ~15 s, more than the outage.
    { QUEUE_HIGH_ATTEMPTS: '6', QUEUE_BACKOFF_BASE_MS: '500', HTTP_TIMEOUT_MS: '1000' },
  );
  w = startInProcess(env);
});

afterAll(async () => {
  await w?.stop();
  await stub?.stop();
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await t?.close();
});

describe('retries, failed jobs and the admin API', () => {
  it('retries with growing delays while accounting is down for 10 s and completes once it is back', async () => {
    await stub.stop();
    const ids = await writeMovements(t.admin, tenant, 20);
    // The calls fail with connection refused; record when each attempt happened from the metrics instead.
    await sleep(10_000);
    const retriesBefore = await w.deps.workerMetrics.retries.get();
    const retried = retriesBefore.values.reduce((n, v) => n + v.value, 0);
    expect(retried).toBeGreaterThanOrEqual(20 * 3);
    expect(await entryCount(t.admin)).toBe(0);
    const delayed = await w.deps.queues.high.getJobCounts();
    expect(delayed.delayed + delayed.waiting + delayed.active).toBe(20);
    await stub.listen();
    await waitFor(async () => (await outboxCounts(t.admin)).done === 20, 15_000, 100);
    expect(await entryCount(t.admin)).toBe(20);
    for (const id of ids) expect(stub.calls.get(id)).toHaveLength(1);
    // Nothing exhausted its retries.
    expect(await t.admin('worker.failed_jobs').count({ n: '*' }).first()).toEqual({ n: '0' });
  }, 40_000);

  it('spaces the attempts of one job with growing, jittered delays', async () => {
    const [id] = (await writeMovements(t.admin, tenant, 1)) as [string];
    stub.failTimes.set(id, 4); // 503 four times, then success
    await waitFor(
      async () => (await t.admin('inventory.outbox').where({ id }).first()).status === 'done',
      20_000,
    );
    const at = stub.calls.get(id)!;
    expect(at).toHaveLength(5);
    const gaps = at.slice(1).map((v, i) => v - at[i]!);
    // base 500 ms: ~500, ~1000, ~2000, ~4000 (each ±25 %, plus scheduling noise on a busy machine)
    expect(gaps[2]!).toBeGreaterThan(gaps[0]! * 2);
    expect(gaps[3]!).toBeGreaterThan(gaps[1]! * 2);
    expect(gaps[3]!).toBeGreaterThan(gaps[2]!);
    expect(gaps[0]!).toBeGreaterThanOrEqual(350);
    expect(gaps[3]!).toBeLessThan(6000);
  }, 30_000);

  it('records a permanently failing job in failed_jobs at once, and a retry through the API succeeds once fixed', async () => {
    const [id] = (await writeMovements(t.admin, tenant, 1)) as [string];
    stub.rejecting.add(id);
    await waitFor(
      async () => (await t.admin('worker.failed_jobs').where({ job_id: id }).first()) !== undefined,
      10_000,
    );
    const row = await t.admin('worker.failed_jobs').where({ job_id: id }).first();
    expect(row).toMatchObject({
      queue: 'high',
      job_name: 'stock-movement',
      tenant_id: tenant,
      status: 'failed',
      parked: true,
      attempts: 1,
    });
    expect(row.error).toMatch(/422/);
    expect(row.payload).toMatchObject({ tenantId: tenant, eventId: id, source: 'inventory' });
    // Permanent: one call, not retried; the outbox row stays pending and the relay leaves it parked.
    await t.admin.raw(
      `UPDATE inventory.outbox SET last_enqueued_at = now() - interval '1 hour' WHERE id = ?`,
      [id],
    );
    await sleep(500);
    expect(stub.calls.get(id)).toHaveLength(1);
    expect((await t.admin('inventory.outbox').where({ id }).first()).status).toBe('pending');

    const app = createApp(w.deps);
    expect((await request(app).get('/v1/admin/failed-jobs')).status).toBe(401);
    expect(
      (
        await request(app)
          .get('/v1/admin/failed-jobs')
          .set('x-kv-identity', identity(['admin']))
      ).status,
    ).toBe(403);
    const admin = identity(['admin', 'platform_admin']);
    const list = await request(app).get('/v1/admin/failed-jobs').set('x-kv-identity', admin);
    expect(list.status).toBe(200);
    const item = list.body.data.find((j: { job_id: string }) => j.job_id === id);
    expect(item).toMatchObject({
      queue: 'high',
      job_name: 'stock-movement',
      tenant_id: tenant,
      retried_at: null,
    });
    expect(new Date(item.failed_at).toISOString()).toBe(item.failed_at);

    // The cause is fixed; the operator retries.
    stub.rejecting.delete(id);
    const retry = await request(app)
      .post(`/v1/admin/failed-jobs/${item.id}/retry`)
      .set('x-kv-identity', admin);
    expect(retry.status).toBe(200);
    expect(retry.body.retried_at).not.toBeNull();
    await waitFor(
      async () => (await t.admin('inventory.outbox').where({ id }).first()).status === 'done',
      10_000,
    );
    await waitFor(
      async () => (await t.admin('worker.failed_jobs').where({ id: item.id }).first()).status === 'resolved',
      5000,
    );
    const entries = await t.admin.raw<{ rows: { n: number }[] }>(
      'SELECT count(*)::int AS n FROM stub.entries WHERE event_id = ?',
      [id],
    );
    expect(entries.rows[0]!.n).toBe(1);
    // A second retry of the same (now resolved) job is a conflict; unknown and malformed ids are 404.
    expect(
      (await request(app).post(`/v1/admin/failed-jobs/${item.id}/retry`).set('x-kv-identity', admin)).status,
    ).toBe(409);
    expect(
      (await request(app).post(`/v1/admin/failed-jobs/${randomUUID()}/retry`).set('x-kv-identity', admin))
        .status,
    ).toBe(404);
    expect(
      (await request(app).post(`/v1/admin/failed-jobs/nope/retry`).set('x-kv-identity', admin)).status,
    ).toBe(404);
  }, 30_000);

  it('pages through failed jobs with an opaque cursor, newest first', async () => {
    const ids = await writeMovements(t.admin, tenant, 5);
    for (const id of ids) stub.rejecting.add(id);
    await waitFor(async () => {
      const r = await t.admin('worker.failed_jobs').whereIn('job_id', ids).count({ n: '*' }).first();
      return Number(r?.n) === 5;
    }, 10_000);
    const app = createApp(w.deps);
    const admin = identity(['platform_admin']);
    const seen: string[] = [];
    let cursor: string | null = null;
    let failedAts: string[] = [];
    do {
      const url: string = `/v1/admin/failed-jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await request(app).get(url).set('x-kv-identity', admin);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data.map((j: { id: string }) => j.id));
      failedAts.push(...res.body.data.map((j: { failed_at: string }) => j.failed_at));
      cursor = res.body.next_cursor;
    } while (cursor);
    const total = await t.admin('worker.failed_jobs').count({ n: '*' }).first();
    expect(seen).toHaveLength(Number(total?.n));
    expect(new Set(seen).size).toBe(seen.length);
    expect([...failedAts].sort().reverse()).toEqual(failedAts);
    failedAts = [];
    expect((await request(app).get('/v1/admin/failed-jobs?limit=0').set('x-kv-identity', admin)).status).toBe(
      400,
    );
    expect(
      (await request(app).get('/v1/admin/failed-jobs?cursor=%%%').set('x-kv-identity', admin)).status,
    ).toBe(400);
    for (const id of ids) stub.rejecting.delete(id);
  });
});
