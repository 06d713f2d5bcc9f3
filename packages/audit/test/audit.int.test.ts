import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { createTestDatabase, type TestDatabase } from '@kv/testing';
import { enableTenantRls, withTenantTransaction } from '@kv/tenant-context';
import { createAuditTable, listAudit, writeAudit } from '../src';

let db: TestDatabase;
let owner: Knex;
let app: Knex;
const A = randomUUID();
const B = randomUUID();
const inA = <T>(fn: (trx: Knex.Transaction) => Promise<T>) =>
  withTenantTransaction(app, fn, { tenantId: A, userId: null });

beforeAll(async () => {
  db = await createTestDatabase('audit');
  owner = knexFactory({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
  await owner.raw('CREATE SCHEMA s');
  await owner.raw('GRANT USAGE ON SCHEMA s TO kv_app');
  await createAuditTable(owner, 's', { appRole: 'kv_app', enableRls: enableTenantRls });
  await createAuditTable(owner, 's', { appRole: 'kv_app', enableRls: enableTenantRls });
  app = knexFactory({ client: 'pg', connection: db.urls.app, pool: { min: 0, max: 4 } });
});

afterAll(async () => {
  await Promise.all([app.destroy(), owner.destroy()]);
  await db.drop();
});

describe('audit', () => {
  const entity = randomUUID();
  it('pages newest first with a cursor and filters by entity', async () => {
    for (let i = 0; i < 5; i++) {
      await inA((trx) =>
        writeAudit(trx, 's', [
          {
            tenantId: A,
            actorId: null,
            action: 'product.create',
            entityType: 'product',
            entityId: entity,
            requestId: `r${i}`,
            changes: { i },
          },
        ]),
      );
    }
    await inA((trx) =>
      writeAudit(trx, 's', [
        {
          tenantId: A,
          actorId: null,
          action: 'warehouse.create',
          entityType: 'warehouse',
          entityId: randomUUID(),
          requestId: 'x',
          changes: {},
        },
      ]),
    );
    const p1 = await inA((trx) => listAudit(trx, 's', { entityType: 'product', entityId: entity, limit: 3 }));
    expect(p1.data.map((e) => e.changes.i)).toEqual([4, 3, 2]);
    const p2 = await inA((trx) =>
      listAudit(trx, 's', { entityType: 'product', entityId: entity, limit: 3, cursor: p1.next_cursor! }),
    );
    expect(p2.data.map((e) => e.changes.i)).toEqual([1, 0]);
    expect(p2.next_cursor).toBeNull();
    expect((await inA((trx) => listAudit(trx, 's', { limit: 50 }))).data).toHaveLength(6);
  });

  it('is append-only and tenant-isolated', async () => {
    await expect(inA((trx) => trx('s.audit_events').update({ action: 'x' }))).rejects.toThrow();
    const other = await withTenantTransaction(app, (trx) => listAudit(trx, 's', { limit: 50 }), {
      tenantId: B,
      userId: null,
    });
    expect(other.data).toHaveLength(0);
  });
});
