import { randomUUID } from 'node:crypto';
import type {
  Adjustment,
  AdjustmentCreate,
  MovementQuery,
  Receipt,
  ReceiptCreate,
  StockLevel,
  StockMovement,
  StockQuery,
  Transfer,
  TransferCreate,
} from '@kv/api-contract';
import type { TenantContext } from '@kv/tenant-context';
import type { Knex } from 'knex';
import { insertAdjustment, insertReceipt, insertTransfer } from '../data/documents';
import { listMovements as listMovementRows, type NewMovement } from '../data/movements';
import type { Db } from '../data/sql';
import * as stock from '../data/stock';
import { audit, recordMovements } from './events';
import { actorOf, insufficientStock, requireReferences, requireWarehouseAccess } from './guards';
import { compareIds, mergeLines, normalizeId } from './lines';
import { isTimestamp, isUuid, readCursor, toPage, type Page } from './paging';

// ------------------------------------------------------------------------------------------------ receipts

/** 404 for unknown warehouse/products, then 403 when the user may not change that warehouse. */
export async function checkReceipt(db: Db, ctx: TenantContext, input: ReceiptCreate): Promise<void> {
  await requireReferences(db, ctx, {
    warehouseIds: [input.warehouse_id],
    productIds: input.lines.map((l) => l.product_id),
  });
  requireWarehouseAccess(ctx, [input.warehouse_id]);
}

/**
 * Receives goods: one `receipt` movement per line, each updating on_hand and the moving-average cost in the
 * same SQL statement. Lines are applied in product id order (stable for repeated products).
 */
export async function receive(
  trx: Knex.Transaction,
  ctx: TenantContext,
  input: ReceiptCreate,
): Promise<Receipt> {
  const id = randomUUID();
  const warehouseId = normalizeId(input.warehouse_id);
  const reference = input.reference ?? null;
  const createdAt = await insertReceipt(trx, {
    tenantId: ctx.tenantId,
    id,
    warehouseId,
    reference,
    createdBy: actorOf(ctx),
  });
  const lines = input.lines.map((l, index) => ({
    index,
    product_id: normalizeId(l.product_id),
    quantity: l.quantity,
    unit_cost: l.unit_cost,
    movement_id: randomUUID(),
  }));
  const ordered = [...lines].sort((a, b) => compareIds(a.product_id, b.product_id) || a.index - b.index);
  for (const l of ordered) {
    await stock.receive(
      trx,
      { tenantId: ctx.tenantId, productId: l.product_id, warehouseId },
      l.quantity,
      l.unit_cost,
    );
  }
  await recordMovements(
    trx,
    ctx,
    ordered.map((l) => ({
      id: l.movement_id,
      type: 'receipt',
      productId: l.product_id,
      warehouseId,
      quantity: l.quantity,
      unitCost: l.unit_cost,
      reference: reference ?? `receipt:${id}`,
      documentType: 'receipt',
      documentId: id,
    })),
  );
  const result: Receipt = {
    id,
    warehouse_id: warehouseId,
    reference,
    lines: lines.map((l) => ({
      product_id: l.product_id,
      quantity: l.quantity,
      unit_cost: l.unit_cost,
      movement_id: l.movement_id,
    })),
    created_at: createdAt,
  };
  await audit(trx, ctx, 'receipt.create', 'receipt', id, {
    warehouse_id: warehouseId,
    reference,
    lines: result.lines,
  });
  return result;
}

// --------------------------------------------------------------------------------------------- adjustments

export async function checkAdjustment(db: Db, ctx: TenantContext, input: AdjustmentCreate): Promise<void> {
  await requireReferences(db, ctx, { warehouseIds: [input.warehouse_id], productIds: [input.product_id] });
  requireWarehouseAccess(ctx, [input.warehouse_id]);
}

/**
 * Adjusts on_hand by a non-zero delta, valued at the average in force. A negative delta may only take
 * unreserved goods.
 * @throws AppError INSUFFICIENT_STOCK
 */
export async function adjust(
  trx: Knex.Transaction,
  ctx: TenantContext,
  input: AdjustmentCreate,
): Promise<Adjustment> {
  const id = randomUUID();
  const key = {
    tenantId: ctx.tenantId,
    productId: normalizeId(input.product_id),
    warehouseId: normalizeId(input.warehouse_id),
  };
  const delta = input.quantity_delta;
  const averageCost =
    delta > 0 ? await stock.addOnHand(trx, key, delta) : await stock.takeAvailable(trx, key, -delta);
  if (averageCost === undefined) throw insufficientStock(key.productId, key.warehouseId);
  const createdAt = await insertAdjustment(trx, {
    tenantId: ctx.tenantId,
    id,
    warehouseId: key.warehouseId,
    productId: key.productId,
    quantityDelta: delta,
    reason: input.reason,
    createdBy: actorOf(ctx),
  });
  const movementId = randomUUID();
  await recordMovements(trx, ctx, [
    {
      id: movementId,
      type: 'adjustment',
      productId: key.productId,
      warehouseId: key.warehouseId,
      quantity: delta,
      unitCost: averageCost,
      reference: `adjustment:${id}`,
      documentType: 'adjustment',
      documentId: id,
    },
  ]);
  const result: Adjustment = {
    id,
    warehouse_id: key.warehouseId,
    product_id: key.productId,
    quantity_delta: delta,
    reason: input.reason,
    movement_id: movementId,
    created_at: createdAt,
  };
  await audit(trx, ctx, 'adjustment.create', 'adjustment', id, {
    warehouse_id: key.warehouseId,
    product_id: key.productId,
    quantity_delta: delta,
    reason: input.reason,
    unit_cost: averageCost,
  });
  return result;
}

// ----------------------------------------------------------------------------------------------- transfers

export async function checkTransfer(db: Db, ctx: TenantContext, input: TransferCreate): Promise<void> {
  await requireReferences(db, ctx, {
    warehouseIds: [input.from_warehouse_id, input.to_warehouse_id],
    productIds: input.lines.map((l) => l.product_id),
  });
  requireWarehouseAccess(ctx, [input.from_warehouse_id, input.to_warehouse_id]);
}

/**
 * Moves goods between warehouses atomically; the average cost travels with them (transfer_in recomputes the
 * destination's moving average at the source's average). Rows are locked strictly in (product id, warehouse
 * id) order: when the destination sorts first it is locked (created if needed) before the source is
 * decremented, so opposite transfers racing each other cannot deadlock.
 * @throws AppError INSUFFICIENT_STOCK (nothing changes)
 */
export async function transfer(
  trx: Knex.Transaction,
  ctx: TenantContext,
  input: TransferCreate,
): Promise<Transfer> {
  const id = randomUUID();
  const from = normalizeId(input.from_warehouse_id);
  const to = normalizeId(input.to_warehouse_id);
  const reference = input.reference ?? null;
  const lines = mergeLines(input.lines);
  const movements: NewMovement[] = [];
  for (const line of lines) {
    const src = { tenantId: ctx.tenantId, productId: line.product_id, warehouseId: from };
    const dst = { tenantId: ctx.tenantId, productId: line.product_id, warehouseId: to };
    if (compareIds(to, from) < 0) await stock.lockRow(trx, dst);
    const averageCost = await stock.takeAvailable(trx, src, line.quantity);
    if (averageCost === undefined) throw insufficientStock(line.product_id, from);
    await stock.receive(trx, dst, line.quantity, averageCost);
    const common = {
      productId: line.product_id,
      unitCost: averageCost,
      reference: reference ?? `transfer:${id}`,
      documentType: 'transfer' as const,
      documentId: id,
    };
    movements.push({
      ...common,
      id: randomUUID(),
      type: 'transfer_out',
      warehouseId: from,
      quantity: -line.quantity,
    });
    movements.push({
      ...common,
      id: randomUUID(),
      type: 'transfer_in',
      warehouseId: to,
      quantity: line.quantity,
    });
  }
  const createdAt = await insertTransfer(trx, {
    tenantId: ctx.tenantId,
    id,
    fromWarehouseId: from,
    toWarehouseId: to,
    reference,
    createdBy: actorOf(ctx),
  });
  await recordMovements(trx, ctx, movements);
  const result: Transfer = {
    id,
    from_warehouse_id: from,
    to_warehouse_id: to,
    reference,
    lines,
    created_at: createdAt,
  };
  await audit(trx, ctx, 'transfer.create', 'transfer', id, {
    from_warehouse_id: from,
    to_warehouse_id: to,
    reference,
    lines,
  });
  return result;
}

// ------------------------------------------------------------------------------------------------- reading

/** Stock levels by (product, warehouse). Unknown filter ids are a 404. */
export async function listStock(db: Db, ctx: TenantContext, q: StockQuery): Promise<Page<StockLevel>> {
  await requireReferences(db, ctx, {
    warehouseIds: q.warehouse_id ? [q.warehouse_id] : [],
    productIds: q.product_id ? [q.product_id] : [],
  });
  const after = readCursor(q.cursor, ['p', 'w'], (c) => isUuid(c.p) && isUuid(c.w));
  const rows = await stock.listStock(
    db,
    ctx.tenantId,
    {
      ...(q.warehouse_id ? { warehouseId: normalizeId(q.warehouse_id) } : {}),
      ...(q.product_id ? { productId: normalizeId(q.product_id) } : {}),
    },
    q.limit + 1,
    after && { productId: after.p, warehouseId: after.w },
  );
  return toPage(rows, q.limit, (r) => ({ p: r.product_id, w: r.warehouse_id }));
}

/** The ledger, newest first. Unknown filter ids are a 404. */
export async function listMovements(
  db: Db,
  ctx: TenantContext,
  q: MovementQuery,
): Promise<Page<StockMovement>> {
  await requireReferences(db, ctx, {
    warehouseIds: q.warehouse_id ? [q.warehouse_id] : [],
    productIds: q.product_id ? [q.product_id] : [],
  });
  const before = readCursor(q.cursor, ['at', 'id'], (c) => isTimestamp(c.at) && isUuid(c.id));
  const rows = await listMovementRows(
    db,
    ctx.tenantId,
    {
      ...(q.warehouse_id ? { warehouseId: normalizeId(q.warehouse_id) } : {}),
      ...(q.product_id ? { productId: normalizeId(q.product_id) } : {}),
    },
    q.limit + 1,
    before,
  );
  return toPage(rows, q.limit, (m) => ({ at: m.created_at, id: m.id }));
}
