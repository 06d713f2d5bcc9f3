import type { MovementType } from '@kv/api-contract';
import { iso, num, query, type Db } from './sql';
import { T } from './schema';

export type DocumentType = 'receipt' | 'reservation' | 'adjustment' | 'transfer';

export interface NewMovement {
  id: string;
  type: MovementType;
  productId: string;
  warehouseId: string;
  /** Signed. */
  quantity: number;
  unitCost: number;
  reference: string | null;
  documentType: DocumentType;
  documentId: string;
}

export interface MovementRow {
  id: string;
  type: MovementType;
  product_id: string;
  warehouse_id: string;
  quantity: number;
  unit_cost: number;
  reference: string | null;
  document_type: DocumentType;
  document_id: string;
  created_at: string;
}

/** Appends ledger rows (one statement). @returns each id with its timestamp (ISO UTC). */
export async function insertMovements(
  db: Db,
  tenantId: string,
  movements: readonly NewMovement[],
): Promise<Map<string, string>> {
  const rows = await query<{ id: string; created_at: Date }>(
    db,
    `INSERT INTO ${T.movements} (tenant_id, id, type, product_id, warehouse_id, quantity, unit_cost, reference, document_type, document_id)
     SELECT ?, id, type, product_id, warehouse_id, quantity, unit_cost, reference, document_type, document_id
       FROM unnest(?::uuid[], ?::text[], ?::uuid[], ?::uuid[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::uuid[])
         AS m(id, type, product_id, warehouse_id, quantity, unit_cost, reference, document_type, document_id)
     RETURNING id, created_at`,
    [
      tenantId,
      movements.map((m) => m.id),
      movements.map((m) => m.type),
      movements.map((m) => m.productId),
      movements.map((m) => m.warehouseId),
      movements.map((m) => m.quantity),
      movements.map((m) => m.unitCost),
      movements.map((m) => m.reference) as unknown as string[],
      movements.map((m) => m.documentType),
      movements.map((m) => m.documentId),
    ],
  );
  return new Map(rows.map((r) => [r.id, iso(r.created_at)]));
}

interface RawMovement {
  id: string;
  type: MovementType;
  product_id: string;
  warehouse_id: string;
  quantity: string;
  unit_cost: string;
  reference: string | null;
  document_type: DocumentType;
  document_id: string;
  created_at: Date;
}

/** Ledger rows newest first, optionally filtered, after the keyset `before` (created_at, id). */
export async function listMovements(
  db: Db,
  tenantId: string,
  filter: { productId?: string; warehouseId?: string },
  limit: number,
  before?: { at: string; id: string },
): Promise<MovementRow[]> {
  const where = ['tenant_id = ?'];
  const bindings: (string | number)[] = [tenantId];
  if (filter.productId) {
    where.push('product_id = ?');
    bindings.push(filter.productId);
  }
  if (filter.warehouseId) {
    where.push('warehouse_id = ?');
    bindings.push(filter.warehouseId);
  }
  if (before) {
    where.push('(created_at, id) < (?::timestamptz, ?::uuid)');
    bindings.push(before.at, before.id);
  }
  bindings.push(limit);
  const rows = await query<RawMovement>(
    db,
    `SELECT id, type, product_id, warehouse_id, quantity, unit_cost, reference, document_type, document_id, created_at
       FROM ${T.movements} WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`,
    bindings,
  );
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    product_id: r.product_id,
    warehouse_id: r.warehouse_id,
    quantity: num(r.quantity),
    unit_cost: num(r.unit_cost),
    reference: r.reference,
    document_type: r.document_type,
    document_id: r.document_id,
    created_at: iso(r.created_at),
  }));
}
