import { randomUUID } from 'node:crypto';
import { permissionsOf } from '@kv/api-contract';
import { createDbRouter, type DbRouter } from '@kv/db-router';
import { createNullLogger } from '@kv/logger';
import { createMetrics } from '@kv/metrics';
import { createIdentityCodec } from '@kv/tenant-context';
import { createTestDatabase, type TestDatabase } from '@kv/testing';
import type { Server } from 'node:http';
import type { Knex } from 'knex';
import request from 'supertest';
import { createApp } from '../src/app';
import { createPool } from '../src/data/knex';
import { createReadRouting } from '../src/data/read-routing';
import { migrate } from '../src/migrate';
import { SECRET } from './helpers';

// The streaming replica of the local cluster (.ci/setup-replica.sh). Without it these tests say so and pass vacuously.
const REPLICA_PORT = 5433;

async function replicaAvailable(): Promise<boolean> {
  const probe = createPool(`postgres://postgres@127.0.0.1:${REPLICA_PORT}/postgres`, {
    max: 1,
    acquireTimeoutMs: 2000,
  });
  try {
    const r = await probe.raw<{ rows: { r: boolean }[] }>('SELECT pg_is_in_recovery() AS r');
    return r.rows[0]?.r === true;
  } catch {
    return false;
  } finally {
    await probe.destroy();
  }
}

let available = false;
let db: TestDatabase;
let owner: Knex;
let router: DbRouter;
let systemDb: Knex;
let url: string;
let server: Server;
const decisions: string[] = [];

beforeAll(async () => {
  available = await replicaAvailable();
  if (!available) return;
  db = await createTestDatabase('inv_replica');
  owner = createPool(db.urls.owner, { max: 2 });
  await migrate(owner);
  const replicaUrl = new URL(db.urls.app);
  replicaUrl.port = String(REPLICA_PORT);
  router = createDbRouter({
    writer: db.urls.app,
    readers: [replicaUrl.toString()],
    pool: { max: 5 },
    healthCheckIntervalMs: 200,
    onDecision: (e) => decisions.push(e.decision),
  });
  systemDb = createPool(db.urls.system, { max: 1 });
  const app = createApp({
    db: router.writer(),
    reads: createReadRouting(router),
    systemDb,
    codec: createIdentityCodec({ secret: SECRET }),
    logger: createNullLogger(),
    metrics: createMetrics({ service: 'inventory', defaultMetrics: false }),
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  // the new database must exist on the replica before it can be polled
  for (let i = 0; i < 50 && !(await router.checkNow()).replicas.every((r) => r.status === 'up'); i++)
    await new Promise((r) => setTimeout(r, 100));
});

afterAll(async () => {
  if (!available) return;
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
  await Promise.all([router.close(), systemDb.destroy(), owner.destroy()]);
  await db.drop();
});

describe('read routing over a streaming replica', () => {
  it('reads a user’s own write right after it (read-your-writes), and sends other reads to the replica', async () => {
    if (!available) {
      console.warn('no streaming replica on 127.0.0.1:5433: read-routing test skipped');
      return;
    }
    const tenantId = randomUUID();
    const sign = (userId: string) =>
      createIdentityCodec({ secret: SECRET }).sign({
        tenantId,
        userId,
        roles: ['admin'],
        permissions: permissionsOf(['admin']),
        attributes: {},
        requestId: 'r',
        kind: 'user',
      });
    const writerToken = sign(randomUUID());
    for (let i = 0; i < 20; i++) {
      const created = await request(url)
        .post('/v1/products')
        .set('x-kv-identity', writerToken)
        .send({ sku: `RYW-${i}`, name: 'n' });
      expect(created.status).toBe(201);
      const read = await request(url)
        .get(`/v1/products/${created.body.id}`)
        .set('x-kv-identity', writerToken);
      expect(read.status).toBe(200);
    }
    decisions.length = 0;
    await new Promise((r) => setTimeout(r, 500));
    const otherToken = sign(randomUUID());
    const list = await request(url).get('/v1/products?limit=200').set('x-kv-identity', otherToken);
    expect(list.body.data).toHaveLength(20);
    expect(decisions).toContain('replica');
  });
});
