import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { createTestDatabase, type TestDatabase } from '@kv/testing';
import { enableTenantRls, withTenantTransaction } from '@kv/tenant-context';
import { claimPending, createOutboxTable, markDone, outboxStats, purgeDone, writeOutbox } from '../src';

let db: TestDatabase;
let owner: Knex;
let app: Knex;
let system: Knex;
const A = randomUUID();
const B = randomUUID();

beforeAll(async () => {
  db = await createTestDatabase('outbox');
  owner = knexFactory({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
  await owner.raw('CREATE SCHEMA s');
  await owner.raw('GRANT USAGE ON SCHEMA s TO kv_app, kv_system');
  const opts = { appRole: 'kv_app', systemRole: 'kv_system', enableRls: enableTenantRls };
  await createOutboxTable(owner, 's', opts);
  await createOutboxTable(owner, 's', opts);
  app = knexFactory({ client: 'pg', connection: db.urls.app, pool: { min: 0, max: 4 } });
  system = knexFactory({ client: 'pg', connection: db.urls.system, pool: { min: 0, max: 4 } });
});

afterAll(async () => {
  await Promise.all([app.destroy(), owner.destroy(), system.destroy()]);
  await db.drop();
});

describe('outbox', () => {
  it('publishes only committed events, across tenants, once per claim round', async () => {
    await withTenantTransaction(
      app,
      (trx) => writeOutbox(trx, 's', [{ tenantId: A, topic: 't', payload: { n: 1 } }]),
      { tenantId: A, userId: null },
    );
    await withTenantTransaction(
      app,
      (trx) => writeOutbox(trx, 's', [{ tenantId: B, topic: 't', payload: { n: 2 } }]),
      { tenantId: B, userId: null },
    );
    await expect(
      withTenantTransaction(
        app,
        async (trx) => {
          await writeOutbox(trx, 's', [{ tenantId: A, topic: 't', payload: { n: 3 } }]);
          throw new Error('rolled back');
        },
        { tenantId: A, userId: null },
      ),
    ).rejects.toThrow('rolled back');
    const [c1, c2] = await Promise.all([
      claimPending(system, 's', { limit: 10 }),
      claimPending(system, 's', { limit: 10 }),
    ]);
    const claimed = [...c1, ...c2];
    expect(claimed.map((r) => r.payload.n).sort()).toEqual([1, 2]);
    expect(await claimPending(system, 's')).toHaveLength(0);
    expect((await outboxStats(system, 's')).pending).toBe(2);
  });

  it('re-delivers rows still pending after the timeout, until marked done', async () => {
    const again = await claimPending(system, 's', { redeliverAfterMs: 0 });
    expect(again).toHaveLength(2);
    expect(again.every((r) => r.attempts === 2)).toBe(true);
    expect(
      await markDone(
        system,
        's',
        again.map((r) => r.id),
      ),
    ).toBe(2);
    expect(
      await markDone(
        system,
        's',
        again.map((r) => r.id),
      ),
    ).toBe(0);
    expect(await claimPending(system, 's', { redeliverAfterMs: 0 })).toHaveLength(0);
    expect(await outboxStats(system, 's')).toEqual({ pending: 0, oldestPendingAgeS: 0 });
    expect(await purgeDone(system, 's', 0)).toBe(2);
  });

  it('hides other tenants from the application role', async () => {
    await withTenantTransaction(
      app,
      (trx) => writeOutbox(trx, 's', [{ tenantId: B, topic: 't', payload: {} }]),
      { tenantId: B, userId: null },
    );
    const seen = await withTenantTransaction(app, (trx) => trx('s.outbox').select('id'), {
      tenantId: A,
      userId: null,
    });
    expect(seen).toHaveLength(0);
  });
});
