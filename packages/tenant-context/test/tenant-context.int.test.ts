import { randomUUID } from 'node:crypto';
import express from 'express';
import knexFactory, { type Knex } from 'knex';
import request from 'supertest';
import { createTestDatabase, type TestDatabase } from '@kv/testing';
import {
  createIdentityCodec,
  currentContext,
  enableTenantRls,
  MissingTenantContextError,
  runWithContext,
  withTenantTransaction,
  type TenantContext,
} from '../src';
import { requireIdentity, requirePermission } from '../src/express';

const A = randomUUID();
const B = randomUUID();
const ctx = (tenantId: string): TenantContext => ({
  tenantId,
  userId: randomUUID(),
  roles: ['viewer'],
  permissions: ['inventory:read'],
  attributes: {},
  requestId: 'r',
  kind: 'user',
});

let db: TestDatabase;
let owner: Knex;
let app: Knex;

beforeAll(async () => {
  db = await createTestDatabase('tenantctx');
  owner = knexFactory({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
  await owner.raw('CREATE SCHEMA s');
  await owner.raw(
    'CREATE TABLE s.items (tenant_id uuid NOT NULL, id serial, name text, PRIMARY KEY (tenant_id, id))',
  );
  await enableTenantRls(owner, 's.items');
  await owner.raw('GRANT USAGE ON SCHEMA s TO kv_app');
  await owner.raw('GRANT SELECT, INSERT ON s.items TO kv_app');
  await owner.raw('GRANT USAGE ON ALL SEQUENCES IN SCHEMA s TO kv_app');
  // One connection: every transaction below reuses the same pooled session.
  app = knexFactory({ client: 'pg', connection: db.urls.app, pool: { min: 1, max: 1 } });
  await withTenantTransaction(
    app,
    (trx) =>
      trx('s.items').insert([
        { tenant_id: A, name: 'a1' },
        { tenant_id: A, name: 'a2' },
      ]),
    ctx(A),
  );
  await withTenantTransaction(app, (trx) => trx('s.items').insert({ tenant_id: B, name: 'b1' }), ctx(B));
});

afterAll(async () => {
  await app.destroy();
  await owner.destroy();
  await db.drop();
});

describe('row-level security with tenant transactions', () => {
  it('a query with no tenant filter, as the application role, sees only its own tenant', async () => {
    const rows = await withTenantTransaction(
      app,
      (trx) => trx('s.items').select('name').orderBy('name'),
      ctx(A),
    );
    expect(rows.map((r: { name: string }) => r.name)).toEqual(['a1', 'a2']);
    const rowsB = await withTenantTransaction(app, (trx) => trx('s.items').select('name'), ctx(B));
    expect(rowsB.map((r: { name: string }) => r.name)).toEqual(['b1']);
  });

  it('does not leak the tenant to the next transaction on the same pooled connection', async () => {
    await withTenantTransaction(app, (trx) => trx('s.items').select(), ctx(A));
    // Same single connection, no tenant set: SET LOCAL ended with the transaction, so nothing is visible.
    const { rows } = await app.raw(
      "SELECT count(*)::int AS n, current_setting('app.tenant_id', true) AS t FROM s.items",
    );
    expect(rows[0].n).toBe(0);
    expect(rows[0].t ?? '').toBe('');
    const rowsB = await withTenantTransaction(
      app,
      (trx) => trx('s.items').count<{ count: string }[]>('* as count'),
      ctx(B),
    );
    expect(Number(rowsB[0]!.count)).toBe(1);
  });

  it('refuses to write a row for another tenant', async () => {
    await expect(
      withTenantTransaction(app, (trx) => trx('s.items').insert({ tenant_id: B, name: 'sneaky' }), ctx(A)),
    ).rejects.toThrow(/row-level security/);
  });

  it('applies to the table owner too (FORCE)', async () => {
    const { rows } = await owner.raw('SELECT count(*)::int AS n FROM s.items');
    expect(rows[0].n).toBe(0);
  });

  it('throws when there is no tenant context (fail closed)', async () => {
    expect(currentContext()).toBeUndefined();
    await expect(withTenantTransaction(app, (trx) => trx('s.items').select())).rejects.toBeInstanceOf(
      MissingTenantContextError,
    );
  });

  it('uses the current context when none is passed', async () => {
    const rows = await runWithContext(ctx(B), () =>
      withTenantTransaction(app, (trx) => trx('s.items').select('name')),
    );
    expect(rows).toEqual([{ name: 'b1' }]);
  });
});

describe('identity forwarding', () => {
  const codec = createIdentityCodec({ secret: 'x'.repeat(32) });
  const web = express();
  web.get('/thing', requireIdentity(codec), requirePermission('inventory:read'), (_req, res) => {
    res.json({ tenant: currentContext()?.tenantId });
  });
  web.get('/write', requireIdentity(codec), requirePermission('inventory:write'), (_req, res) => {
    res.json({});
  });
  web.use(
    (err: { status?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(err.status ?? 500).json({});
    },
  );

  it('runs the request in the forwarded tenant context', async () => {
    const res = await request(web)
      .get('/thing')
      .set('x-kv-identity', codec.sign(ctx(A)));
    expect(res.status).toBe(200);
    expect(res.body.tenant).toBe(A);
  });

  it('answers 401 without or with a tampered identity', async () => {
    expect((await request(web).get('/thing')).status).toBe(401);
    const token = codec.sign(ctx(A));
    const other = createIdentityCodec({ secret: 'y'.repeat(32) }).sign(ctx(A));
    expect((await request(web).get('/thing').set('x-kv-identity', `${token}x`)).status).toBe(401);
    expect((await request(web).get('/thing').set('x-kv-identity', other)).status).toBe(401);
  });

  it('answers 403 when the permission is missing', async () => {
    expect(
      (
        await request(web)
          .get('/write')
          .set('x-kv-identity', codec.sign(ctx(A)))
      ).status,
    ).toBe(403);
  });
});
