import { iso, query, type Db } from './sql';
import { T } from './schema';

/** Header rows of the stock documents (their lines are the stock movements they caused). */

export async function insertReceipt(
  db: Db,
  r: {
    tenantId: string;
    id: string;
    warehouseId: string;
    reference: string | null;
    createdBy: string | null;
  },
): Promise<string> {
  const rows = await query<{ created_at: Date }>(
    db,
    `INSERT INTO ${T.receipts} (tenant_id, id, warehouse_id, reference, created_by) VALUES (?, ?, ?, ?, ?) RETURNING created_at`,
    [r.tenantId, r.id, r.warehouseId, r.reference, r.createdBy],
  );
  return iso(rows[0]!.created_at);
}

export async function insertAdjustment(
  db: Db,
  a: {
    tenantId: string;
    id: string;
    warehouseId: string;
    productId: string;
    quantityDelta: number;
    reason: string;
    createdBy: string | null;
  },
): Promise<string> {
  const rows = await query<{ created_at: Date }>(
    db,
    `INSERT INTO ${T.adjustments} (tenant_id, id, warehouse_id, product_id, quantity_delta, reason, created_by)
     VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING created_at`,
    [a.tenantId, a.id, a.warehouseId, a.productId, a.quantityDelta, a.reason, a.createdBy],
  );
  return iso(rows[0]!.created_at);
}

export async function insertTransfer(
  db: Db,
  t: {
    tenantId: string;
    id: string;
    fromWarehouseId: string;
    toWarehouseId: string;
    reference: string | null;
    createdBy: string | null;
  },
): Promise<string> {
  const rows = await query<{ created_at: Date }>(
    db,
    `INSERT INTO ${T.transfers} (tenant_id, id, from_warehouse_id, to_warehouse_id, reference, created_by)
     VALUES (?, ?, ?, ?, ?, ?) RETURNING created_at`,
    [t.tenantId, t.id, t.fromWarehouseId, t.toWarehouseId, t.reference, t.createdBy],
  );
  return iso(rows[0]!.created_at);
}
