import { randomUUID } from 'node:crypto';
import { createPool } from '../src/data/knex';
import { migrate } from '../src/migrate';
import { seedDemo } from '../src/seed';
import { checkInvariants, ownerQuery, startTestApp, type TestApp } from './helpers';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp('seed');
});
afterAll(async () => {
  await t.close();
});

describe('migrations', () => {
  it('are idempotent: running them again (even concurrently) changes nothing', async () => {
    const secondProcess = createPool(t.db.urls.owner, { max: 2 });
    try {
      const again = await Promise.all([migrate(t.owner), migrate(secondProcess), migrate(t.owner)]);
      expect(again).toEqual([[], [], []]);
    } finally {
      await secondProcess.destroy();
    }
    const tables = await t.owner.raw(
      `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'inventory' AND c.relkind = 'r' AND c.relname NOT LIKE 'knex_%' ORDER BY 1`,
    );
    const rows = (
      tables as { rows: { relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }[] }
    ).rows;
    expect(rows.map((r) => r.relname)).toEqual(
      [
        'adjustments',
        'audit_events',
        'idempotency_keys',
        'outbox',
        'receipts',
        'reservation_lines',
        'reservations',
        'stock_levels',
        'stock_movements',
        'transfers',
        'warehouses',
        'products',
      ].sort(),
    );
    expect(rows.every((r) => r.relrowsecurity && r.relforcerowsecurity)).toBe(true);
    const pk = await t.owner.raw(
      `SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
        WHERE n.nspname = 'inventory' AND i.indisprimary AND c.relname NOT LIKE 'knex_%'`,
    );
    expect((pk as { rows: { attname: string }[] }).rows.every((r) => r.attname === 'tenant_id')).toBe(true);
  });

  it('gives the system role only what the expiry sweep and outbox relay need', async () => {
    const grants = await t.owner.raw(
      `SELECT table_name, privilege_type FROM information_schema.role_table_grants
        WHERE grantee = 'kv_system' AND table_schema = 'inventory' ORDER BY 1, 2`,
    );
    expect(
      (grants as { rows: { table_name: string; privilege_type: string }[] }).rows.map(
        (r) => `${r.table_name}:${r.privilege_type}`,
      ),
    ).toEqual([
      'audit_events:INSERT',
      'idempotency_keys:DELETE',
      'idempotency_keys:SELECT',
      'outbox:DELETE',
      'outbox:SELECT',
      'outbox:UPDATE',
      'reservation_lines:SELECT',
      'reservations:SELECT',
      'stock_levels:SELECT',
    ]);
    const columns = await t.owner.raw(
      `SELECT table_name, column_name FROM information_schema.column_privileges
        WHERE grantee = 'kv_system' AND table_schema = 'inventory' AND privilege_type = 'UPDATE' AND table_name <> 'outbox' ORDER BY 1, 2`,
    );
    expect(
      (columns as { rows: { table_name: string; column_name: string }[] }).rows.map(
        (r) => `${r.table_name}.${r.column_name}`,
      ),
    ).toEqual(['reservations.closed_at', 'reservations.status', 'stock_levels.reserved']);
  });
});

describe('seedDemo', () => {
  it("creates a demo tenant's warehouses, products and stock once, with a complete ledger", async () => {
    const tenantId = randomUUID();
    const first = await seedDemo(t.appDb, { tenantId, products: 5, quantity: 50 });
    expect(first.created).toBe(true);
    expect(first.warehouses.map((w) => w.code)).toEqual(['MAIN', 'EAST', 'WEST']);
    expect(first.products).toHaveLength(5);
    const again = await seedDemo(t.appDb, { tenantId, products: 5, quantity: 50 });
    expect(again).toEqual({ ...first, created: false });
    const admin = t.client({ tenantId });
    const stock = await admin.get('/v1/stock?limit=200');
    expect(stock.body.data).toHaveLength(15);
    expect(stock.body.data.every((s: { on_hand: number }) => s.on_hand === 50)).toBe(true);
    expect(await checkInvariants(t, tenantId)).toEqual({ badRanges: 0, ledgerMismatches: 0 });
    const outbox = await ownerQuery<{ n: string }>(t, tenantId, 'SELECT count(*) AS n FROM inventory.outbox');
    expect(Number(outbox[0]!.n)).toBe(15);
  });
});
