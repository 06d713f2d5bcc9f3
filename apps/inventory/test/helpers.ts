import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { permissionsOf } from '@kv/api-contract';
import { createNullLogger } from '@kv/logger';
import { createMetrics } from '@kv/metrics';
import { createIdentityCodec, type TenantContext } from '@kv/tenant-context';
import { createTestDatabase, type TestDatabase } from '@kv/testing';
import type { Knex } from 'knex';
import request from 'supertest';
import { createApp } from '../src/app';
import { createPool } from '../src/data/knex';
import { migrate } from '../src/migrate';

export const SECRET = 'inventory-test-secret-0123456789abcdef';
export const NIL_TENANT = '00000000-0000-0000-0000-000000000000';

export interface Identity {
  tenantId?: string;
  userId?: string | null;
  roles?: string[];
  permissions?: string[];
  attributes?: TenantContext['attributes'];
  kind?: TenantContext['kind'];
}

/** A small HTTP client bound to one signed identity (or none). */
export interface Client {
  token: string | undefined;
  get(path: string): request.Test;
  post(path: string, body?: unknown, headers?: Record<string, string>): request.Test;
}

export interface TestApp {
  db: TestDatabase;
  server: Server;
  url: string;
  owner: Knex;
  appDb: Knex;
  systemDb: Knex;
  /** Signs an identity (defaults: admin of `tenantId`, random user). */
  sign(identity?: Identity): string;
  client(identity?: Identity): Client;
  /** A client without an identity header. */
  anonymous(): Client;
  close(): Promise<void>;
}

/**
 * Fresh database, migrations as the owner, the app as `kv_app` (+ `kv_system` for the sweep) listening on a
 * free port. Pools are small: several test files share 2 cores and one PostgreSQL.
 */
export async function startTestApp(label: string, opts: { poolMax?: number } = {}): Promise<TestApp> {
  const db = await createTestDatabase(`inv_${label}`);
  const owner = createPool(db.urls.owner, { max: 2, applicationName: 'inventory-test-owner' });
  await migrate(owner);
  const appDb = createPool(db.urls.app, {
    max: opts.poolMax ?? 10,
    applicationName: 'inventory-test',
    acquireTimeoutMs: 60_000,
  });
  const systemDb = createPool(db.urls.system, { max: 2, applicationName: 'inventory-test-system' });
  const codec = createIdentityCodec({ secret: SECRET, ttlSeconds: 600 });
  const app = createApp({
    db: appDb,
    systemDb,
    codec,
    logger: createNullLogger(),
    metrics: createMetrics({ service: 'inventory', defaultMetrics: false }),
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.keepAliveTimeout = 30_000;
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const sign = (identity: Identity = {}): string => {
    const roles = identity.roles ?? ['admin'];
    return codec.sign({
      tenantId: identity.tenantId ?? randomUUID(),
      userId: identity.userId === undefined ? randomUUID() : identity.userId,
      roles,
      permissions: identity.permissions ?? permissionsOf(roles),
      attributes: identity.attributes ?? {},
      requestId: 'test',
      kind: identity.kind ?? 'user',
    });
  };
  const bind = (token: string | undefined): Client => ({
    token,
    get: (path) => {
      const r = request(url).get(path);
      return token ? r.set('x-kv-identity', token) : r;
    },
    post: (path, body, headers = {}) => {
      let r = request(url).post(path);
      if (token) r = r.set('x-kv-identity', token);
      for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
      return body === undefined ? r : r.send(body as object);
    },
  });
  return {
    db,
    server,
    url,
    owner,
    appDb,
    systemDb,
    sign,
    client: (identity) => bind(sign(identity)),
    anonymous: () => bind(undefined),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([appDb.destroy(), systemDb.destroy(), owner.destroy()]);
      await db.drop();
    },
  };
}

/** A tenant with one admin client and helpers to build stock through the API. */
export interface TenantFixture {
  tenantId: string;
  admin: Client;
  warehouse(code?: string): Promise<string>;
  product(sku?: string): Promise<string>;
  receive(warehouseId: string, productId: string, quantity: number, unitCost?: number): Promise<void>;
  stock(
    productId: string,
    warehouseId: string,
  ): Promise<{ on_hand: number; reserved: number; available: number; average_cost: number }>;
}

let seq = 0;

export function tenantFixture(t: TestApp, tenantId: string = randomUUID()): TenantFixture {
  const admin = t.client({ tenantId });
  const expectStatus = (res: request.Response, status: number) => {
    if (res.status !== status)
      throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
    return res;
  };
  return {
    tenantId,
    admin,
    warehouse: async (code = `W${++seq}`) =>
      expectStatus(await admin.post('/v1/warehouses', { code, name: `Warehouse ${code}` }), 201).body.id,
    product: async (sku = `SKU-${++seq}`) =>
      expectStatus(await admin.post('/v1/products', { sku, name: `Product ${sku}` }), 201).body.id,
    receive: async (warehouseId, productId, quantity, unitCost = 100) => {
      expectStatus(
        await admin.post('/v1/stock/receipts', {
          warehouse_id: warehouseId,
          lines: [{ product_id: productId, quantity, unit_cost: unitCost }],
        }),
        201,
      );
    },
    stock: async (productId, warehouseId) => {
      const res = expectStatus(
        await admin.get(`/v1/stock?product_id=${productId}&warehouse_id=${warehouseId}`),
        200,
      );
      return res.body.data[0] ?? { on_hand: 0, reserved: 0, available: 0, average_cost: 0 };
    },
  };
}

/** Reads rows as the owner (RLS is FORCEd on the owner too, so this sets the tenant). */
export async function ownerQuery<R>(
  t: TestApp,
  tenantId: string,
  sql: string,
  bindings: unknown[] = [],
): Promise<R[]> {
  return t.owner.transaction(async (trx) => {
    await trx.raw(`SELECT set_config('app.tenant_id', ?, true)`, [tenantId]);
    const r = await trx.raw<{ rows: R[] }>(sql, bindings as Knex.RawBinding[]);
    return r.rows;
  });
}

/** Invariants from the database: 0 <= reserved <= on_hand, and on_hand = Σ movements per (product, warehouse). */
export async function checkInvariants(
  t: TestApp,
  tenantId: string,
): Promise<{ badRanges: number; ledgerMismatches: number }> {
  const [range] = await ownerQuery<{ n: string }>(
    t,
    tenantId,
    `SELECT count(*) AS n FROM inventory.stock_levels WHERE NOT (reserved >= 0 AND reserved <= on_hand AND on_hand >= 0)`,
  );
  const [ledger] = await ownerQuery<{ n: string }>(
    t,
    tenantId,
    `SELECT count(*) AS n FROM inventory.stock_levels s
      FULL JOIN (SELECT product_id, warehouse_id, sum(quantity) AS q FROM inventory.stock_movements GROUP BY 1, 2) m
        ON m.product_id = s.product_id AND m.warehouse_id = s.warehouse_id
      WHERE COALESCE(s.on_hand, 0) <> COALESCE(m.q, 0)`,
  );
  return { badRanges: Number(range!.n), ledgerMismatches: Number(ledger!.n) };
}
