import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { Redis } from 'ioredis';
import request from 'supertest';
import { claimPending, writeOutbox } from '@kv/outbox';
import { withTenantTransaction } from '@kv/tenant-context';
import { DEFAULT_REDIS_URL, deleteKeys } from '@kv/testing';
import { createApp } from '../src/app';
import {
  entryCount,
  movementPayload,
  outboxCounts,
  setupDatabase,
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
const logLines: string[] = [];
const prefix = uniqueBullPrefix('relay');
const tenant = randomUUID();

beforeAll(async () => {
  t = await setupDatabase('worker_relay');
  stub = await StubAccounting.start(t.admin);
  redis = new Redis(DEFAULT_REDIS_URL);
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => logLines.push(...c.toString().split('\n').filter(Boolean)));
  const env = workerEnv(t.db, {
    redisUrl: DEFAULT_REDIS_URL,
    prefix,
    accountingUrl: stub.url,
    inventoryUrl: 'http://127.0.0.1:9',
  });
  w = startInProcess({ ...env, LOG_LEVEL: 'info' }, {}, stream);
});

afterAll(async () => {
  await w?.stop();
  await stub?.stop();
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await t?.close();
});

describe('outbox relay and stock movement consumer', () => {
  it('posts every committed movement exactly once, marks the outbox done and leaves the queues empty', async () => {
    const ids = await writeMovements(t.admin, tenant, 300);
    await waitFor(async () => (await outboxCounts(t.admin)).done === 300, 15_000);
    expect(await entryCount(t.admin)).toBe(300);
    for (const id of ids) expect(stub.calls.get(id)).toHaveLength(1);
    const counts = await w.deps.queues.high.getJobCounts();
    expect(counts).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 });
    // Every call carried a service identity of the event's tenant.
    expect(stub.identities.every((i) => i.kind === 'service' && i.tenantId === tenant)).toBe(true);
  });

  it('never relays an uncommitted or rolled-back event', async () => {
    const committedLater = randomUUID();
    const rolledBack = randomUUID();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const open = withTenantTransaction(
      t.admin,
      async (trx) => {
        await writeOutbox(trx, 'inventory', [
          {
            id: committedLater,
            tenantId: tenant,
            topic: 'inventory.stock_movement',
            payload: movementPayload(tenant, committedLater),
          },
        ]);
        await gate;
      },
      { tenantId: tenant, userId: null },
    );
    await expect(
      withTenantTransaction(
        t.admin,
        async (trx) => {
          await writeOutbox(trx, 'inventory', [
            {
              id: rolledBack,
              tenantId: tenant,
              topic: 'inventory.stock_movement',
              payload: movementPayload(tenant, rolledBack),
            },
          ]);
          throw new Error('rolled back');
        },
        { tenantId: tenant, userId: null },
      ),
    ).rejects.toThrow('rolled back');
    await new Promise((r) => setTimeout(r, 600));
    expect(stub.calls.has(committedLater)).toBe(false);
    release();
    await open;
    await waitFor(() => stub.calls.has(committedLater), 5000);
    await new Promise((r) => setTimeout(r, 300));
    expect(stub.calls.has(rolledBack)).toBe(false);
  });

  it('runs each job in its tenant context: log lines carry tenant_id and request_id', async () => {
    stub.rejecting.clear();
    const [id] = await writeMovements(t.admin, tenant, 1);
    stub.rejecting.add(id!);
    await waitFor(
      () => logLines.some((l) => l.includes(id!) && l.includes('recorded in failed_jobs')),
      10_000,
    );
    const line = JSON.parse(
      logLines.find((l) => l.includes(id!) && l.includes('recorded in failed_jobs'))!,
    ) as Record<string, unknown>;
    expect(line.tenant_id).toBe(tenant);
    expect(String(line.request_id)).toMatch(/^job:high:/);
    stub.rejecting.delete(id!);
  });

  it('enqueues an event again, with the same job id, when its job was lost, and bull does not swallow it', async () => {
    const id = randomUUID();
    // Written and claimed by a "relay" that died before enqueueing (last_enqueued_at set, no job in Redis).
    await w.worker.relay.stop();
    await withTenantTransaction(
      t.admin,
      (trx) =>
        writeOutbox(trx, 'inventory', [
          { id, tenantId: tenant, topic: 'inventory.stock_movement', payload: movementPayload(tenant, id) },
        ]),
      { tenantId: tenant, userId: null },
    );
    await claimPending(t.admin, 'inventory');
    await t.admin.raw(
      `UPDATE inventory.outbox SET last_enqueued_at = now() - interval '10 seconds' WHERE id = ?`,
      [id],
    );
    const before = stub.calls.get(id)?.length ?? 0;
    expect(before).toBe(0);
    await w.worker.relay.runOnce();
    await waitFor(
      async () => (await t.admin('inventory.outbox').where({ id }).first()).status === 'done',
      5000,
    );
    // A second delivery of the same (already done) event is answered as a duplicate and changes nothing.
    await t.admin.raw(
      `UPDATE inventory.outbox SET status = 'pending', last_enqueued_at = NULL WHERE id = ?`,
      [id],
    );
    await w.worker.relay.runOnce();
    await waitFor(() => stub.calls.get(id)?.length === 2, 5000);
    await waitFor(
      async () => (await t.admin('inventory.outbox').where({ id }).first()).status === 'done',
      5000,
    );
    const { rows } = await t.admin.raw<{ rows: { n: number }[] }>(
      'SELECT count(*)::int AS n FROM stub.entries WHERE event_id = ?',
      [id],
    );
    expect(rows[0]!.n).toBe(1);
  });

  it('acknowledges events of a topic no consumer subscribes to', async () => {
    const [id] = await writeMovements(t.admin, tenant, 1, 1, 'inventory.something_else');
    await w.worker.relay.runOnce();
    const row = await t.admin('inventory.outbox').where({ id }).first();
    expect(row.status).toBe('done');
    expect(stub.calls.has(id!)).toBe(false);
  });

  it('serves health, queue depth metrics and an admin API closed to anyone but a platform admin', async () => {
    const app = createApp(w.deps);
    const ready = await request(app).get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toMatchObject({
      database: { status: 'healthy' },
      redis: { status: 'healthy' },
      queues: { status: 'healthy' },
    });
    expect((await request(app).get('/health/live')).body).toEqual({ status: 'ok' });
    await new Promise((r) => setTimeout(r, 1200));
    const metrics = await request(app).get('/metrics');
    expect(metrics.text).toMatch(/worker_queue_jobs\{queue="high",state="waiting",service="worker"\} \d+/);
    expect(metrics.text).toMatch(/worker_job_duration_seconds_bucket/);
    expect(metrics.text).toMatch(/worker_jobs_total\{queue="high",name="stock-movement",outcome="completed"/);
    expect((await request(app).get('/v1/admin/failed-jobs')).status).toBe(401);
  });

  it('reports a queue backlog above the threshold as degraded (200)', async () => {
    const env = workerEnv(t.db, {
      redisUrl: DEFAULT_REDIS_URL,
      prefix: `${prefix}-backlog`,
      accountingUrl: stub.url,
      inventoryUrl: 'http://127.0.0.1:9',
    });
    const idle = startInProcess(
      { ...env, QUEUE_BACKLOG_THRESHOLD: '3' },
      { consumers: false, relay: false, cleanup: false },
    );
    try {
      await idle.deps.queues.default.addBulk(
        Array.from({ length: 5 }, () => ({ name: 'noop', data: { tenantId: tenant, payload: {} } })),
      );
      await idle.deps.systemKnex.raw('SELECT 1'); // a pooled connection, so the check does not pay for the connect
      await waitFor(() => idle.deps.redis.status === 'ready', 5000);
      const ready = await request(createApp(idle.deps)).get('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('degraded');
      expect(ready.body.checks.queues.status).toBe('degraded');
    } finally {
      await idle.stop();
      await deleteKeys(redis, `${prefix}-backlog`);
    }
  });
});
