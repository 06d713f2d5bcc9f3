import { randomUUID } from 'node:crypto';
import { RESERVATION_TTL, type Reservation, type ReservationCreate } from '@kv/api-contract';
import { writeAudit } from '@kv/audit';
import { type AppError, errors } from '@kv/errors';
import type { TenantContext } from '@kv/tenant-context';
import type { Knex } from 'knex';
import * as reservations from '../data/reservations';
import { SCHEMA } from '../data/schema';
import type { Db } from '../data/sql';
import * as stock from '../data/stock';
import { audit, recordMovements } from './events';
import {
  actorOf,
  insufficientStock,
  mayChangeWarehouse,
  requireReferences,
  requireWarehouseAccess,
} from './guards';
import { mergeLines, normalizeId } from './lines';

/** 404 for an unknown warehouse or product, then 403 when the user may not change that warehouse. */
export async function checkReserve(db: Db, ctx: TenantContext, input: ReservationCreate): Promise<void> {
  await requireReferences(db, ctx, {
    warehouseIds: [input.warehouse_id],
    productIds: input.lines.map((l) => l.product_id),
  });
  requireWarehouseAccess(ctx, [input.warehouse_id]);
}

/**
 * True when the 404/403 checks may be folded into the reserving statement itself: the user may change
 * this warehouse (so no attribute 403 can be due) and there is no idempotency key (so no replay or 422
 * must be decided between the checks and the change). The error precedence stays 404 → 403 → 409.
 */
export function canFoldChecks(ctx: TenantContext, input: ReservationCreate, idempotent: boolean): boolean {
  return !idempotent && mayChangeWarehouse(ctx, input.warehouse_id);
}

/**
 * Reserves every line or none. Lines naming the same product are summed first; each product's row is then
 * changed by one conditional UPDATE (`on_hand - reserved >= q`), in product id order, so PostgreSQL alone
 * decides and concurrent reservations never oversell or deadlock.
 * @param options.referencesChecked false when {@link checkReserve} was skipped (see {@link canFoldChecks}).
 * @throws AppError NOT_FOUND (unchecked references), INSUFFICIENT_STOCK (the transaction rolls back: nothing
 *   is reserved)
 */
export async function reserve(
  trx: Knex.Transaction,
  ctx: TenantContext,
  input: ReservationCreate,
  options: { referencesChecked: boolean },
): Promise<Reservation> {
  const warehouseId = normalizeId(input.warehouse_id);
  const lines = mergeLines(input.lines);
  const id = randomUUID();
  const ttlSeconds = input.ttl_seconds ?? RESERVATION_TTL.default;
  if (lines.length === 1) {
    const line = lines[0]!;
    const result = await reservations.reserveOneLine(trx, {
      tenantId: ctx.tenantId,
      id,
      warehouseId,
      line,
      ttlSeconds,
      createdBy: actorOf(ctx),
      requestId: ctx.requestId || null,
    });
    if (result.row) return result.row;
    if (!result.warehouseExists) throw errors.notFound('warehouse');
    if (!result.productExists) throw errors.notFound('product');
    throw insufficientStock(line.product_id, warehouseId);
  }
  if (!options.referencesChecked)
    await requireReferences(trx, ctx, {
      warehouseIds: [warehouseId],
      productIds: lines.map((l) => l.product_id),
    });
  // The documents are written first and the stock rows last, so a hot row stays locked only from its UPDATE
  // to COMMIT; when a line is short the whole transaction rolls back, documents included.
  const row = await reservations.insertReservation(trx, {
    tenantId: ctx.tenantId,
    id,
    warehouseId,
    ttlSeconds,
    createdBy: actorOf(ctx),
    lines,
  });
  await audit(trx, ctx, 'reservation.create', 'reservation', row.id, {
    warehouse_id: warehouseId,
    lines,
    expires_at: row.expires_at,
  });
  for (const line of lines) {
    const ok = await stock.reserve(
      trx,
      { tenantId: ctx.tenantId, productId: line.product_id, warehouseId },
      line.quantity,
    );
    if (!ok) throw insufficientStock(line.product_id, warehouseId);
  }
  return row;
}

/** @throws AppError NOT_FOUND */
export async function getReservation(db: Db, ctx: TenantContext, id: string): Promise<Reservation> {
  const row = await reservations.findReservation(db, ctx.tenantId, id);
  if (!row) throw errors.notFound('reservation');
  return row;
}

/** 404 for an unknown reservation, then 403 when the user may not change its warehouse. */
export async function checkClose(db: Db, ctx: TenantContext, id: string): Promise<void> {
  const warehouseId = await reservations.findReservationWarehouse(db, ctx.tenantId, id);
  if (!warehouseId) throw errors.notFound('reservation');
  requireWarehouseAccess(ctx, [warehouseId]);
}

async function notActive(db: Db, ctx: TenantContext, id: string, verb: string): Promise<AppError> {
  const current = await reservations.findReservation(db, ctx.tenantId, id);
  return errors.conflict(
    `Only an active reservation can be ${verb}; this one is ${current?.status ?? 'gone'}.`,
  );
}

/**
 * Commits an active reservation: the goods leave (one `shipment` movement per line at the average in
 * force; on_hand and reserved both drop).
 * @throws AppError CONFLICT when it is not active (committed, released, or past `expires_at`)
 */
export async function commitReservation(
  trx: Knex.Transaction,
  ctx: TenantContext,
  id: string,
): Promise<Reservation> {
  const closed = await reservations.closeActive(trx, ctx.tenantId, id, 'committed');
  if (!closed) throw await notActive(trx, ctx, id, 'committed');
  const { row } = closed;
  const movements = [];
  for (const line of row.lines) {
    const averageCost = await stock.ship(
      trx,
      { tenantId: ctx.tenantId, productId: line.product_id, warehouseId: row.warehouse_id },
      line.quantity,
    );
    if (averageCost === undefined)
      throw new Error(`reservation ${id}: reserved quantity missing for product ${line.product_id}`);
    movements.push({
      id: randomUUID(),
      type: 'shipment' as const,
      productId: line.product_id,
      warehouseId: row.warehouse_id,
      quantity: -line.quantity,
      unitCost: averageCost,
      reference: `reservation:${id}`,
      documentType: 'reservation' as const,
      documentId: id,
    });
  }
  await recordMovements(trx, ctx, movements);
  await audit(trx, ctx, 'reservation.commit', 'reservation', id, {
    status: { from: 'active', to: 'committed' },
  });
  return row;
}

/**
 * Releases an active reservation: its quantities become available again.
 * @throws AppError CONFLICT when it is not active
 */
export async function releaseReservation(
  trx: Knex.Transaction,
  ctx: TenantContext,
  id: string,
): Promise<Reservation> {
  const closed = await reservations.closeActive(trx, ctx.tenantId, id, 'released');
  if (!closed) throw await notActive(trx, ctx, id, 'released');
  const { row } = closed;
  for (const line of row.lines) {
    const ok = await stock.unreserve(
      trx,
      { tenantId: ctx.tenantId, productId: line.product_id, warehouseId: row.warehouse_id },
      line.quantity,
    );
    if (!ok) throw new Error(`reservation ${id}: reserved quantity missing for product ${line.product_id}`);
  }
  await audit(trx, ctx, 'reservation.release', 'reservation', id, {
    status: { from: 'active', to: 'released' },
  });
  return row;
}

/** Most reservations one sweep transaction expires. */
export const EXPIRY_BATCH = 500;

/**
 * Cross-tenant expiry sweep (system role): expires every active reservation past `expires_at`, exactly once
 * each, giving its quantities back and auditing it (actor null), one batch per transaction.
 * @param maxBatches bound on the work of one call; the next call continues.
 * @returns how many reservations this call expired.
 */
export async function expireDue(
  systemKnex: Knex,
  requestId: string | null,
  maxBatches = 20,
): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await systemKnex.transaction(async (trx) => {
      const expired = await reservations.expireDueBatch(trx, EXPIRY_BATCH);
      await writeAudit(
        trx,
        SCHEMA,
        expired.map((r) => ({
          tenantId: r.tenant_id,
          actorId: null,
          action: 'reservation.expire',
          entityType: 'reservation' as const,
          entityId: r.id,
          requestId,
          changes: { status: { from: 'active', to: 'expired' }, lines: r.lines },
        })),
      );
      return expired.length;
    });
    total += n;
    if (n < EXPIRY_BATCH) break;
  }
  return total;
}
