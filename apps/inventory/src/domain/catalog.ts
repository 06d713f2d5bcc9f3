import type { Product, ProductCreate, Warehouse, WarehouseCreate } from '@kv/api-contract';
import { errors } from '@kv/errors';
import type { TenantContext } from '@kv/tenant-context';
import type { Knex } from 'knex';
import * as catalog from '../data/catalog';
import type { Db } from '../data/sql';
import { audit } from './events';
import { actorOf } from './guards';
import { readCursor, toPage, type Page } from './paging';

/** Default product unit when none is given. */
export const DEFAULT_UNIT = 'unit';

/** @throws AppError CONFLICT when the tenant already has this code. */
export async function createWarehouse(
  trx: Knex.Transaction,
  ctx: TenantContext,
  input: WarehouseCreate,
): Promise<Warehouse> {
  const row = await catalog.insertWarehouse(trx, {
    tenantId: ctx.tenantId,
    code: input.code,
    name: input.name,
    createdBy: actorOf(ctx),
  });
  if (!row) throw errors.conflict(`A warehouse with code "${input.code}" already exists.`);
  await audit(trx, ctx, 'warehouse.create', 'warehouse', row.id, { code: row.code, name: row.name });
  return row;
}

/** @throws AppError NOT_FOUND */
export async function getWarehouse(db: Db, ctx: TenantContext, id: string): Promise<Warehouse> {
  const row = await catalog.findWarehouse(db, ctx.tenantId, id);
  if (!row) throw errors.notFound('warehouse');
  return row;
}

/** Warehouses by code. @throws AppError VALIDATION_ERROR for a foreign cursor. */
export async function listWarehouses(
  db: Db,
  ctx: TenantContext,
  q: { limit: number; cursor?: string | undefined },
): Promise<Page<Warehouse>> {
  const after = readCursor(q.cursor, ['code']);
  const rows = await catalog.listWarehouses(db, ctx.tenantId, q.limit + 1, after?.code);
  return toPage(rows, q.limit, (w) => ({ code: w.code }));
}

/** @throws AppError CONFLICT when the tenant already has this sku. */
export async function createProduct(
  trx: Knex.Transaction,
  ctx: TenantContext,
  input: ProductCreate,
): Promise<Product> {
  const row = await catalog.insertProduct(trx, {
    tenantId: ctx.tenantId,
    sku: input.sku,
    name: input.name,
    unit: input.unit ?? DEFAULT_UNIT,
    createdBy: actorOf(ctx),
  });
  if (!row) throw errors.conflict(`A product with sku "${input.sku}" already exists.`);
  await audit(trx, ctx, 'product.create', 'product', row.id, {
    sku: row.sku,
    name: row.name,
    unit: row.unit,
  });
  return row;
}

/** @throws AppError NOT_FOUND */
export async function getProduct(db: Db, ctx: TenantContext, id: string): Promise<Product> {
  const row = await catalog.findProduct(db, ctx.tenantId, id);
  if (!row) throw errors.notFound('product');
  return row;
}

/** Products by sku. @throws AppError VALIDATION_ERROR for a foreign cursor. */
export async function listProducts(
  db: Db,
  ctx: TenantContext,
  q: { limit: number; cursor?: string | undefined },
): Promise<Page<Product>> {
  const after = readCursor(q.cursor, ['sku']);
  const rows = await catalog.listProducts(db, ctx.tenantId, q.limit + 1, after?.sku);
  return toPage(rows, q.limit, (p) => ({ sku: p.sku }));
}
