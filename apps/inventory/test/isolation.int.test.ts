import { randomUUID } from 'node:crypto';
import { withTenantTransaction } from '@kv/tenant-context';
import { ownerQuery, startTestApp, tenantFixture, type TenantFixture, type TestApp } from './helpers';

let t: TestApp;
let a: TenantFixture;
let b: TenantFixture;
const bIds = { warehouse: '', warehouse2: '', product: '', reservation: '' };
const aIds = { warehouse: '', warehouse2: '', product: '' };

beforeAll(async () => {
  t = await startTestApp('isolation');
  a = tenantFixture(t);
  b = tenantFixture(t);
  aIds.warehouse = await a.warehouse('A-W1');
  aIds.warehouse2 = await a.warehouse('A-W2');
  aIds.product = await a.product('A-P');
  await a.receive(aIds.warehouse, aIds.product, 100);
  bIds.warehouse = await b.warehouse('B-W1');
  bIds.warehouse2 = await b.warehouse('B-W2');
  bIds.product = await b.product('B-P');
  await b.receive(bIds.warehouse, bIds.product, 100, 42);
  bIds.reservation = (
    await b.admin.post('/v1/reservations', {
      warehouse_id: bIds.warehouse,
      lines: [{ product_id: bIds.product, quantity: 10 }],
    })
  ).body.id;
});
afterAll(async () => {
  await t.close();
});

/** Everything tenant B has, as the database sees it. */
async function snapshotB(): Promise<unknown> {
  const q = (sql: string) => ownerQuery(t, b.tenantId, sql);
  return {
    stock: await q(
      'SELECT product_id, warehouse_id, on_hand, reserved, average_cost FROM inventory.stock_levels ORDER BY 1, 2',
    ),
    reservations: await q('SELECT id, status FROM inventory.reservations ORDER BY id'),
    movements: await q('SELECT count(*) FROM inventory.stock_movements'),
    audit: await q('SELECT count(*) FROM inventory.audit_events'),
    outbox: await q('SELECT count(*) FROM inventory.outbox'),
  };
}

describe('tenant isolation over HTTP', () => {
  it("answers 404 on every route given another tenant's id, and changes nothing of that tenant", async () => {
    const before = await snapshotB();
    const attempts: [string, () => Promise<{ status: number; body: { type?: string } }>][] = [
      ['get warehouse', () => a.admin.get(`/v1/warehouses/${bIds.warehouse}`)],
      ['get product', () => a.admin.get(`/v1/products/${bIds.product}`)],
      ['get reservation', () => a.admin.get(`/v1/reservations/${bIds.reservation}`)],
      ['commit', () => a.admin.post(`/v1/reservations/${bIds.reservation}/commit`)],
      ['release', () => a.admin.post(`/v1/reservations/${bIds.reservation}/release`)],
      ['stock by warehouse', () => a.admin.get(`/v1/stock?warehouse_id=${bIds.warehouse}`)],
      ['stock by product', () => a.admin.get(`/v1/stock?product_id=${bIds.product}`)],
      ['movements by product', () => a.admin.get(`/v1/stock/movements?product_id=${bIds.product}`)],
      ['movements by warehouse', () => a.admin.get(`/v1/stock/movements?warehouse_id=${bIds.warehouse}`)],
      [
        'receipt: warehouse',
        () =>
          a.admin.post('/v1/stock/receipts', {
            warehouse_id: bIds.warehouse,
            lines: [{ product_id: aIds.product, quantity: 1, unit_cost: 1 }],
          }),
      ],
      [
        'receipt: product',
        () =>
          a.admin.post('/v1/stock/receipts', {
            warehouse_id: aIds.warehouse,
            lines: [{ product_id: bIds.product, quantity: 1, unit_cost: 1 }],
          }),
      ],
      [
        'reserve: warehouse',
        () =>
          a.admin.post('/v1/reservations', {
            warehouse_id: bIds.warehouse,
            lines: [{ product_id: aIds.product, quantity: 1 }],
          }),
      ],
      [
        'reserve: product',
        () =>
          a.admin.post('/v1/reservations', {
            warehouse_id: aIds.warehouse,
            lines: [
              { product_id: aIds.product, quantity: 1 },
              { product_id: bIds.product, quantity: 1 },
            ],
          }),
      ],
      [
        'adjust: warehouse',
        () =>
          a.admin.post('/v1/stock/adjustments', {
            warehouse_id: bIds.warehouse,
            product_id: bIds.product,
            quantity_delta: -1,
            reason: 'x',
          }),
      ],
      [
        'adjust: product',
        () =>
          a.admin.post('/v1/stock/adjustments', {
            warehouse_id: aIds.warehouse,
            product_id: bIds.product,
            quantity_delta: 1,
            reason: 'x',
          }),
      ],
      [
        'transfer: from',
        () =>
          a.admin.post('/v1/stock/transfers', {
            from_warehouse_id: bIds.warehouse,
            to_warehouse_id: aIds.warehouse,
            lines: [{ product_id: bIds.product, quantity: 1 }],
          }),
      ],
      [
        'transfer: to',
        () =>
          a.admin.post('/v1/stock/transfers', {
            from_warehouse_id: aIds.warehouse,
            to_warehouse_id: bIds.warehouse,
            lines: [{ product_id: aIds.product, quantity: 1 }],
          }),
      ],
      [
        'transfer: product',
        () =>
          a.admin.post('/v1/stock/transfers', {
            from_warehouse_id: aIds.warehouse,
            to_warehouse_id: aIds.warehouse2,
            lines: [{ product_id: bIds.product, quantity: 1 }],
          }),
      ],
      ['unknown id', () => a.admin.get(`/v1/products/${randomUUID()}`)],
    ];
    const failures: string[] = [];
    for (const [name, run] of attempts) {
      const res = await run();
      if (res.status !== 404 || res.body.type !== 'not-found')
        failures.push(`${name}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    expect(failures).toEqual([]);
    expect(await snapshotB()).toEqual(before);
    expect(await a.stock(aIds.product, aIds.warehouse)).toMatchObject({ on_hand: 100, reserved: 0 });
  });

  it("never lists another tenant's rows or audit events", async () => {
    const stock = await a.admin.get('/v1/stock?limit=200');
    expect(stock.body.data.every((s: { product_id: string }) => s.product_id !== bIds.product)).toBe(true);
    const products = await a.admin.get('/v1/products?limit=200');
    expect(products.body.data.map((p: { sku: string }) => p.sku)).toEqual(['A-P']);
    const audit = await a.admin.get(`/v1/audit-events?entity_id=${bIds.reservation}`);
    expect(audit.status).toBe(200);
    expect(audit.body.data).toEqual([]);
    const mv = await a.admin.get('/v1/stock/movements?limit=200');
    expect(mv.body.data.every((m: { product_id: string }) => m.product_id === aIds.product)).toBe(true);
  });
});

describe('row-level security for the application role', () => {
  it('shows no row to an unfiltered query without a tenant, and only its own tenant with one', async () => {
    for (const table of [
      'warehouses',
      'products',
      'stock_levels',
      'reservations',
      'reservation_lines',
      'stock_movements',
      'audit_events',
      'outbox',
      'receipts',
    ]) {
      const bare = await t.appDb.raw<{ rows: { n: number }[] }>(
        `SELECT count(*)::int AS n FROM inventory.${table}`,
      );
      expect([table, bare.rows[0]!.n]).toEqual([table, 0]);
    }
    const rows = await withTenantTransaction(
      t.appDb,
      (trx) => trx.raw('SELECT DISTINCT tenant_id FROM inventory.products'),
      { tenantId: a.tenantId, userId: null },
    );
    expect((rows as { rows: { tenant_id: string }[] }).rows).toEqual([{ tenant_id: a.tenantId }]);
  });

  it('refuses to write a row for another tenant, and to update or delete the ledger', async () => {
    await expect(
      withTenantTransaction(
        t.appDb,
        (trx) =>
          trx.raw(`INSERT INTO inventory.warehouses (tenant_id, code, name) VALUES (?, 'X', 'x')`, [
            b.tenantId,
          ]),
        {
          tenantId: a.tenantId,
          userId: null,
        },
      ),
    ).rejects.toThrow(/row-level security/);
    await expect(
      withTenantTransaction(t.appDb, (trx) => trx.raw(`UPDATE inventory.stock_movements SET quantity = 1`), {
        tenantId: a.tenantId,
        userId: null,
      }),
    ).rejects.toThrow(/permission denied/);
    await expect(
      withTenantTransaction(t.appDb, (trx) => trx.raw(`DELETE FROM inventory.stock_levels`), {
        tenantId: a.tenantId,
        userId: null,
      }),
    ).rejects.toThrow(/permission denied/);
    await expect(
      t.appDb.raw(`SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolbypassrls OR rolsuper)`),
    ).resolves.toMatchObject({ rows: [] });
  });
});
