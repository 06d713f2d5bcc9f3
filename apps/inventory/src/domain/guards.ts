import { AppError, errors } from '@kv/errors';
import { canChangeWarehouse, type TenantContext } from '@kv/tenant-context';
import { existingIds } from '../data/catalog';
import type { Db } from '../data/sql';
import { distinctIds, normalizeId } from './lines';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The acting user for `created_by`/audit `actor_id`: null for system actions (and non-uuid ids). */
export function actorOf(ctx: TenantContext): string | null {
  return ctx.userId !== null && UUID.test(ctx.userId) ? normalizeId(ctx.userId) : null;
}

/**
 * 404 unless every named warehouse and product exists in the caller's tenant (another tenant's id is
 * indistinguishable from an unknown one).
 * @throws AppError NOT_FOUND
 */
export async function requireReferences(
  db: Db,
  ctx: TenantContext,
  refs: { warehouseIds?: readonly string[]; productIds?: readonly string[] },
): Promise<void> {
  const warehouseIds = distinctIds(refs.warehouseIds ?? []);
  const productIds = distinctIds(refs.productIds ?? []);
  if (warehouseIds.length === 0 && productIds.length === 0) return;
  const found = await existingIds(db, ctx.tenantId, warehouseIds, productIds);
  if (warehouseIds.some((id) => !found.warehouses.has(id))) throw errors.notFound('warehouse');
  if (productIds.some((id) => !found.products.has(id))) throw errors.notFound('product');
}

/** ABAC as a predicate: `canChangeWarehouse` with ids compared case-insensitively. */
export function mayChangeWarehouse(ctx: TenantContext, warehouseId: string): boolean {
  const allowed = ctx.attributes.warehouse_ids;
  const normalized: TenantContext = allowed
    ? { ...ctx, attributes: { ...ctx.attributes, warehouse_ids: allowed.map(normalizeId) } }
    : ctx;
  return canChangeWarehouse(normalized, normalizeId(warehouseId));
}

/**
 * ABAC: a user whose `warehouse_ids` attribute is set may change stock only in those warehouses.
 * @throws AppError FORBIDDEN
 */
export function requireWarehouseAccess(ctx: TenantContext, warehouseIds: readonly string[]): void {
  for (const id of warehouseIds) {
    if (!mayChangeWarehouse(ctx, id)) {
      throw new AppError('FORBIDDEN', 'You may not change stock in this warehouse.', {
        extra: { warehouse_id: normalizeId(id) },
      });
    }
  }
}

/** 409 `insufficient-stock` naming the product and warehouse. */
export function insufficientStock(productId: string, warehouseId: string): AppError {
  return new AppError(
    'INSUFFICIENT_STOCK',
    `Not enough available stock of product ${productId} in warehouse ${warehouseId}.`,
    {
      extra: { product_id: productId, warehouse_id: warehouseId },
    },
  );
}
