import { randomUUID } from 'node:crypto';
import knex from 'knex';
import { waitFor } from '@kv/testing';
import { client, createAccount, entryBody, startHarness, userIdentity, type Harness } from './helpers';

const REPLICA_ADMIN_URL = process.env.KV_TEST_REPLICA_URL ?? 'postgres://postgres@127.0.0.1:5433/postgres';

/** True when a streaming replica of the local primary answers (CI sets one up on 5433). */
async function replicaAvailable(): Promise<boolean> {
  const k = knex({
    client: 'pg',
    connection: { connectionString: REPLICA_ADMIN_URL, connectionTimeoutMillis: 1_000 },
  });
  try {
    const r = await k.raw<{ rows: { standby: boolean }[] }>('SELECT pg_is_in_recovery() AS standby');
    return r.rows[0]?.standby === true;
  } catch {
    return false;
  } finally {
    await k.destroy();
  }
}

let h: Harness | undefined;
let available = false;

beforeAll(async () => {
  available = await replicaAvailable();
  if (!available) return;
  h = await startHarness('acct_replica', (db) => {
    const replicaUrl = new URL(db.urls.app);
    replicaUrl.port = new URL(REPLICA_ADMIN_URL).port;
    return { DATABASE_REPLICA_URLS: replicaUrl.toString() };
  });
  // The new database reaches the replica by streaming replication; reads use it once it is polled healthy.
  const router = h.deps.db;
  await waitFor(async () => (await router.checkNow()).replicas[0]?.status === 'up', 20_000, 200);
});

afterAll(async () => {
  await h?.close();
});

it('reads through a streaming replica and still sees the caller’s own writes at once', async () => {
  if (!available || !h) {
    console.warn('no streaming replica on 5433: skipped');
    return;
  }
  const harness = h;
  const tenantId = randomUUID();
  const c = client(harness, userIdentity(harness, { tenantId }));
  const a = await createAccount(c, '1000');
  const b = await createAccount(c, '2000', 'liability');
  for (let i = 1; i <= 20; i++) {
    const posted = await c.post('/v1/journal-entries', entryBody(a, b, 10));
    expect(posted.status).toBe(201);
    const got = await c.get(`/v1/journal-entries/${posted.body.id}`);
    expect(got.status).toBe(200);
    const balance = await c.get(`/v1/accounts/${a}`);
    expect(balance.body.balance.debit).toBe(10 * i);
  }
  // Someone who wrote nothing reads from the replica (and sees what has been replayed).
  const viewer = client(harness, userIdentity(harness, { tenantId, roles: ['viewer'] }));
  await waitFor(async () => (await viewer.get(`/v1/accounts/${a}`)).body.balance?.debit === 200, 10_000, 100);
  const metrics = await harness.http().get('/metrics');
  // Reads went to the replica when it had replayed the reader's last write, else to the primary; never stale.
  expect(metrics.text).toMatch(/accounting_read_routing_total\{decision="replica"/);
  expect(metrics.text).not.toMatch(/decision="primary_no_healthy_replica"/);
});
