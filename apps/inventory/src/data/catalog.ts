import { query, iso, type Db } from './sql';
import { T } from './schema';

export interface WarehouseRow {
  id: string;
  code: string;
  name: string;
  created_at: string;
}

export interface ProductRow {
  id: string;
  sku: string;
  name: string;
  unit: string;
  created_at: string;
}

interface RawWarehouse {
  id: string;
  code: string;
  name: string;
  created_at: Date;
}
interface RawProduct {
  id: string;
  sku: string;
  name: string;
  unit: string;
  created_at: Date;
}

const toWarehouse = (r: RawWarehouse): WarehouseRow => ({
  id: r.id,
  code: r.code,
  name: r.name,
  created_at: iso(r.created_at),
});
const toProduct = (r: RawProduct): ProductRow => ({
  id: r.id,
  sku: r.sku,
  name: r.name,
  unit: r.unit,
  created_at: iso(r.created_at),
});

/** Inserts a warehouse; `undefined` when the tenant already has that code (a concurrent insert waits, then yields). */
export async function insertWarehouse(
  db: Db,
  w: { tenantId: string; code: string; name: string; createdBy: string | null },
): Promise<WarehouseRow | undefined> {
  const rows = await query<RawWarehouse>(
    db,
    `INSERT INTO ${T.warehouses} (tenant_id, code, name, created_by) VALUES (?, ?, ?, ?)
     ON CONFLICT (tenant_id, code) DO NOTHING RETURNING id, code, name, created_at`,
    [w.tenantId, w.code, w.name, w.createdBy],
  );
  return rows[0] && toWarehouse(rows[0]);
}

export async function findWarehouse(db: Db, tenantId: string, id: string): Promise<WarehouseRow | undefined> {
  const rows = await query<RawWarehouse>(
    db,
    `SELECT id, code, name, created_at FROM ${T.warehouses} WHERE tenant_id = ? AND id = ?`,
    [tenantId, id],
  );
  return rows[0] && toWarehouse(rows[0]);
}

/** Warehouses ordered by code, after `afterCode` (keyset). */
export async function listWarehouses(
  db: Db,
  tenantId: string,
  limit: number,
  afterCode?: string,
): Promise<WarehouseRow[]> {
  const rows = await query<RawWarehouse>(
    db,
    `SELECT id, code, name, created_at FROM ${T.warehouses}
      WHERE tenant_id = ? ${afterCode === undefined ? '' : 'AND code > ?'} ORDER BY code LIMIT ?`,
    afterCode === undefined ? [tenantId, limit] : [tenantId, afterCode, limit],
  );
  return rows.map(toWarehouse);
}

/** Inserts a product; `undefined` when the tenant already has that sku. */
export async function insertProduct(
  db: Db,
  p: { tenantId: string; sku: string; name: string; unit: string; createdBy: string | null },
): Promise<ProductRow | undefined> {
  const rows = await query<RawProduct>(
    db,
    `INSERT INTO ${T.products} (tenant_id, sku, name, unit, created_by) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (tenant_id, sku) DO NOTHING RETURNING id, sku, name, unit, created_at`,
    [p.tenantId, p.sku, p.name, p.unit, p.createdBy],
  );
  return rows[0] && toProduct(rows[0]);
}

export async function findProduct(db: Db, tenantId: string, id: string): Promise<ProductRow | undefined> {
  const rows = await query<RawProduct>(
    db,
    `SELECT id, sku, name, unit, created_at FROM ${T.products} WHERE tenant_id = ? AND id = ?`,
    [tenantId, id],
  );
  return rows[0] && toProduct(rows[0]);
}

/** Products ordered by sku, after `afterSku` (keyset). */
export async function listProducts(
  db: Db,
  tenantId: string,
  limit: number,
  afterSku?: string,
): Promise<ProductRow[]> {
  const rows = await query<RawProduct>(
    db,
    `SELECT id, sku, name, unit, created_at FROM ${T.products}
      WHERE tenant_id = ? ${afterSku === undefined ? '' : 'AND sku > ?'} ORDER BY sku LIMIT ?`,
    afterSku === undefined ? [tenantId, limit] : [tenantId, afterSku, limit],
  );
  return rows.map(toProduct);
}

/**
 * Which of the given warehouse and product ids exist in the tenant, in one round trip.
 * Ids must be lower-case (as PostgreSQL prints uuids).
 */
export async function existingIds(
  db: Db,
  tenantId: string,
  warehouseIds: readonly string[],
  productIds: readonly string[],
): Promise<{ warehouses: Set<string>; products: Set<string> }> {
  const rows = await query<{ kind: 'w' | 'p'; id: string }>(
    db,
    `SELECT 'w' AS kind, id FROM ${T.warehouses} WHERE tenant_id = ? AND id = ANY(?::uuid[])
     UNION ALL
     SELECT 'p' AS kind, id FROM ${T.products} WHERE tenant_id = ? AND id = ANY(?::uuid[])`,
    [tenantId, [...warehouseIds], tenantId, [...productIds]],
  );
  const warehouses = new Set<string>();
  const products = new Set<string>();
  for (const r of rows) (r.kind === 'w' ? warehouses : products).add(r.id);
  return { warehouses, products };
}

export async function findWarehouseByCode(
  db: Db,
  tenantId: string,
  code: string,
): Promise<WarehouseRow | undefined> {
  const rows = await query<RawWarehouse>(
    db,
    `SELECT id, code, name, created_at FROM ${T.warehouses} WHERE tenant_id = ? AND code = ?`,
    [tenantId, code],
  );
  return rows[0] && toWarehouse(rows[0]);
}

export async function findProductBySku(
  db: Db,
  tenantId: string,
  sku: string,
): Promise<ProductRow | undefined> {
  const rows = await query<RawProduct>(
    db,
    `SELECT id, sku, name, unit, created_at FROM ${T.products} WHERE tenant_id = ? AND sku = ?`,
    [tenantId, sku],
  );
  return rows[0] && toProduct(rows[0]);
}
