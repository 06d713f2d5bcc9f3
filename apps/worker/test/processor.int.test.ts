import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory from 'knex';
import { createNullLogger } from '@kv/logger';
import { createMetrics } from '@kv/metrics';
import { DEFAULT_REDIS_URL, deleteKeys } from '@kv/testing';
import { createFailedJobsRepo } from '../src/data/failed-jobs';
import { cleanupHandlers, createCleanupScheduler } from '../src/domain/cleanup';
import { PermanentError, RetryableError } from '../src/domain/errors';
import { createDoneBatcher } from '../src/domain/done-batcher';
import { createProcessor } from '../src/domain/processor';
import { createWorkerMetrics } from '../src/domain/worker-metrics';
import { migrate } from '../src/migrate';
import { createQueues, QUEUE_NAMES, type JobData, type WorkerJob } from '../src/queues/queues';
import { setupDatabase, uniqueBullPrefix, writeMovements, type WorkerTestDb } from './helpers';

let t: WorkerTestDb;
const tenant = randomUUID();

beforeAll(async () => {
  t = await setupDatabase('worker_processor');
});

afterAll(async () => {
  await t?.close();
});

function fakeJob(
  name: string,
  data: JobData,
  attemptsMade: number,
  attempts: number,
): WorkerJob & { discarded: boolean } {
  const job = {
    id: data.eventId ?? randomUUID(),
    name,
    data,
    opts: { attempts },
    attemptsMade,
    discarded: false,
    discard() {
      job.discarded = true;
    },
  };
  return job as unknown as WorkerJob & { discarded: boolean };
}

const system = () => knexFactory({ client: 'pg', connection: t.db.urls.system, pool: { min: 0, max: 2 } });

describe('job processor', () => {
  it('records a transient failure on its last attempt unparked, and resolves it when a redelivery succeeds', async () => {
    const knex = system();
    try {
      const failedJobs = createFailedJobsRepo(knex);
      let fail = true;
      const processor = createProcessor(
        {
          handlers: {
            flaky: {
              run: () =>
                fail ? Promise.reject(new RetryableError('accounting unreachable')) : Promise.resolve('ok'),
            },
          },
          done: createDoneBatcher({ systemKnex: knex }),
          failedJobs,
          metrics: createWorkerMetrics(createMetrics({ service: 'worker', defaultMetrics: false })),
          logger: createNullLogger(),
          signal: new AbortController().signal,
          workerId: 'test',
        },
        'high',
      );
      const [eventId] = await writeMovements(t.admin, tenant, 1);
      const data: JobData = {
        tenantId: tenant,
        eventId,
        source: 'inventory',
        topic: 't',
        payload: {},
        deliveries: 1,
      };
      // Not the last attempt: nothing recorded.
      await expect(processor(fakeJob('flaky', data, 0, 3))).rejects.toThrow('accounting unreachable');
      expect(await t.admin('worker.failed_jobs').where({ job_id: eventId })).toHaveLength(0);
      // The last attempt: recorded, not parked (the relay will hand the event out again).
      const last = fakeJob('flaky', data, 2, 3);
      await expect(processor(last)).rejects.toThrow('accounting unreachable');
      expect(last.discarded).toBe(false);
      const row = await t.admin('worker.failed_jobs').where({ job_id: eventId }).first();
      expect(row).toMatchObject({ status: 'failed', parked: false, attempts: 3, tenant_id: tenant });
      expect(await failedJobs.parkedAmong([eventId!])).toEqual(new Set());
      // Redelivered by the relay (second delivery) and successful: resolved, outbox done.
      fail = false;
      await expect(processor(fakeJob('flaky', { ...data, deliveries: 2 }, 0, 3))).resolves.toBe('ok');
      expect((await t.admin('worker.failed_jobs').where({ job_id: eventId }).first()).status).toBe(
        'resolved',
      );
      expect((await t.admin('inventory.outbox').where({ id: eventId }).first()).status).toBe('done');
    } finally {
      await knex.destroy();
    }
  });

  it('discards a permanently failing job at its first attempt and parks it', async () => {
    const knex = system();
    try {
      const failedJobs = createFailedJobsRepo(knex);
      const processor = createProcessor(
        {
          handlers: { broken: { run: () => Promise.reject(new PermanentError('422 from accounting')) } },
          done: createDoneBatcher({ systemKnex: knex }),
          failedJobs,
          metrics: createWorkerMetrics(createMetrics({ service: 'worker', defaultMetrics: false })),
          logger: createNullLogger(),
          signal: new AbortController().signal,
          workerId: 'test',
        },
        'high',
      );
      const eventId = randomUUID();
      const job = fakeJob('broken', { tenantId: tenant, eventId, payload: {} }, 0, 3);
      await expect(processor(job)).rejects.toThrow('422');
      expect(job.discarded).toBe(true);
      expect(await failedJobs.parkedAmong([eventId])).toEqual(new Set([eventId]));
      // A job name without handler is permanent too.
      const orphan = fakeJob('nobody-handles-this', { tenantId: tenant, payload: {} }, 0, 3);
      await expect(processor(orphan)).rejects.toThrow(/no handler/);
      expect(orphan.discarded).toBe(true);
    } finally {
      await knex.destroy();
    }
  });
});

describe('migrations and cleanup', () => {
  it('migrates idempotently, also when replicas start at once', async () => {
    const owner = knexFactory({ client: 'pg', connection: t.db.urls.owner, pool: { min: 0, max: 4 } });
    try {
      const runs = await Promise.all([migrate(owner), migrate(owner)]);
      expect(runs).toEqual([[], []]);
    } finally {
      await owner.destroy();
    }
  });

  it('purges done outbox rows and old idempotency keys past their retention, and nothing else', async () => {
    const knex = system();
    try {
      const [oldDone, freshDone, oldPending] = (await writeMovements(t.admin, tenant, 3, 3)) as [
        string,
        string,
        string,
      ];
      await t.admin.raw(
        `UPDATE inventory.outbox SET status = 'done', done_at = now() - interval '100 hours' WHERE id = ?`,
        [oldDone],
      );
      await t.admin.raw(`UPDATE inventory.outbox SET status = 'done', done_at = now() WHERE id = ?`, [
        freshDone,
      ]);
      await t.admin.raw(
        `UPDATE inventory.outbox SET created_at = now() - interval '100 hours' WHERE id = ?`,
        [oldPending],
      );
      await t.admin.raw(
        `CREATE TABLE inventory.idempotency_keys (tenant_id uuid, key text, created_at timestamptz)`,
      );
      await t.admin.raw(`GRANT SELECT, DELETE ON inventory.idempotency_keys TO kv_system`);
      await t.admin.raw(
        `INSERT INTO inventory.idempotency_keys VALUES (?, 'old', now() - interval '49 hours'), (?, 'new', now())`,
        [tenant, tenant],
      );
      const handlers = cleanupHandlers(knex, createFailedJobsRepo(knex), {
        schemas: ['inventory', 'accounting', 'nosuchschema'],
        outboxRetentionHours: 72,
        idempotencyRetentionHours: 48,
        failedJobsRetentionDays: 30,
      });
      const ctx = {} as never;
      const data = { tenantId: tenant, payload: {} };
      expect(await handlers['purge-outbox']!.run(data, ctx)).toEqual({
        deleted: { inventory: 1, accounting: 0 },
      });
      expect(await handlers['purge-idempotency-keys']!.run(data, ctx)).toEqual({ deleted: { inventory: 1 } });
      expect(await handlers['purge-failed-jobs']!.run(data, ctx)).toEqual({ deleted: 0 });
      const left = (await t.admin('inventory.outbox').whereIn('id', [oldDone, freshDone, oldPending])).map(
        (r) => r.id,
      );
      expect(left.sort()).toEqual([freshDone, oldPending].sort());
      expect((await t.admin('inventory.idempotency_keys')).map((r) => r.key)).toEqual(['new']);
    } finally {
      await knex.destroy();
    }
  });

  it('enqueues each period of cleanup jobs once, however often and by however many replicas', async () => {
    const prefix = uniqueBullPrefix('cleanup');
    const redis = new Redis(DEFAULT_REDIS_URL);
    const queues = [1, 2].map(() =>
      createQueues({
        redisUrl: DEFAULT_REDIS_URL,
        prefix,
        attempts: { high: 3, default: 3, low: 5 },
        backoffBaseMs: 100,
        backoffMaxMs: 1000,
        lockDurationMs: 30_000,
        lockRenewMs: 0,
        stalledIntervalMs: 30_000,
        maxStalledCount: 1,
      }),
    );
    try {
      const schedulers = queues.map((q) =>
        createCleanupScheduler({ queue: q.low, intervalMs: 3_600_000, logger: createNullLogger() }),
      );
      await Promise.all([...schedulers.map((s) => s.tick()), ...schedulers.map((s) => s.tick())]);
      const waiting = await queues[0]!.low.getWaiting();
      expect(waiting.map((j) => j.name).sort()).toEqual([
        'purge-failed-jobs',
        'purge-idempotency-keys',
        'purge-outbox',
      ]);
      expect(waiting.every((j) => j.data.tenantId === '00000000-0000-0000-0000-000000000000')).toBe(true);
    } finally {
      await Promise.all(queues.flatMap((q) => QUEUE_NAMES.map((n) => q[n].close())));
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });
});
