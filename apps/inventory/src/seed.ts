import { permissionsOf } from '@kv/api-contract';
import { env, loadConfig } from '@kv/config';
import { withTenantTransaction, type TenantContext } from '@kv/tenant-context';
import type { Knex } from 'knex';
import { z } from 'zod';
import { findProductBySku, findWarehouseByCode } from './data/catalog';
import { createPool } from './data/knex';
import { createProduct, createWarehouse } from './domain/catalog';
import { receive } from './domain/stock';

export interface SeedOptions {
  tenantId: string;
  /** Products to create; default 20. */
  products?: number;
  /** Units received per product and warehouse; default 1000. */
  quantity?: number;
}

export interface SeedResult {
  tenantId: string;
  warehouses: { id: string; code: string }[];
  products: { id: string; sku: string }[];
  /** False when the tenant already had the demo data (nothing was changed). */
  created: boolean;
}

const WAREHOUSES = [
  { code: 'MAIN', name: 'Main warehouse' },
  { code: 'EAST', name: 'East depot' },
  { code: 'WEST', name: 'West depot' },
];

/**
 * Creates a demo tenant's warehouses (MAIN, EAST, WEST), products (DEMO-0001…) and stock through the same
 * domain code as the API (so the ledger, outbox and audit trail are complete). Run it with the `kv_app` pool.
 * Re-running it for a tenant that already has the demo data changes nothing.
 */
export async function seedDemo(appKnex: Knex, options: SeedOptions): Promise<SeedResult> {
  const productCount = options.products ?? 20;
  const quantity = options.quantity ?? 1000;
  const ctx: TenantContext = {
    tenantId: options.tenantId,
    userId: null,
    roles: ['admin'],
    permissions: permissionsOf(['admin']),
    attributes: {},
    requestId: 'seed',
    kind: 'service',
  };
  const skus = Array.from({ length: productCount }, (_, i) => `DEMO-${String(i + 1).padStart(4, '0')}`);
  return withTenantTransaction(
    appKnex,
    async (trx) => {
      const existing = await findWarehouseByCode(trx, ctx.tenantId, WAREHOUSES[0]!.code);
      if (existing) {
        const warehouses = [];
        for (const w of WAREHOUSES) {
          const row = await findWarehouseByCode(trx, ctx.tenantId, w.code);
          if (row) warehouses.push({ id: row.id, code: row.code });
        }
        const products = [];
        for (const sku of skus) {
          const row = await findProductBySku(trx, ctx.tenantId, sku);
          if (row) products.push({ id: row.id, sku: row.sku });
        }
        return { tenantId: ctx.tenantId, warehouses, products, created: false };
      }
      const warehouses = [];
      for (const w of WAREHOUSES) warehouses.push(await createWarehouse(trx, ctx, w));
      const products = [];
      for (const [i, sku] of skus.entries())
        products.push(await createProduct(trx, ctx, { sku, name: `Demo product ${i + 1}`, unit: 'unit' }));
      for (const w of warehouses) {
        await receive(trx, ctx, {
          warehouse_id: w.id,
          reference: 'demo-seed',
          lines: products.map((p, i) => ({ product_id: p.id, quantity, unit_cost: 100 * (i + 1) })),
        });
      }
      return {
        tenantId: ctx.tenantId,
        warehouses: warehouses.map((w) => ({ id: w.id, code: w.code })),
        products: products.map((p) => ({ id: p.id, sku: p.sku })),
        created: true,
      };
    },
    ctx,
  );
}

/** CLI: `tsx src/seed.ts <tenant-uuid> [products]` (or `node dist/seed.js …`) with `DATABASE_URL` (kv_app). */
async function cli(): Promise<void> {
  const config = loadConfig(z.object({ DATABASE_URL: env.url(['postgres', 'postgresql']) }), process.env);
  const args = z
    .tuple([
      z.uuid({ message: 'usage: seed <tenant-uuid> [products]' }),
      z.coerce.number().int().min(1).max(10_000).optional(),
    ])
    .parse(process.argv.slice(2));
  const knex = createPool(config.DATABASE_URL, { max: 2, applicationName: 'inventory-seed' });
  try {
    const result = await seedDemo(knex, { tenantId: args[0], ...(args[1] ? { products: args[1] } : {}) });
    process.stdout.write(
      `${JSON.stringify({ message: 'seeded', ...result, products: result.products.length })}\n`,
    );
  } finally {
    await knex.destroy();
  }
}

if (require.main === module) {
  cli().catch((err: unknown) => {
    process.stderr.write(`seed failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
