import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import {
  createTestDatabase,
  DEFAULT_REDIS_URL,
  deleteKeys,
  uniquePrefix,
  type TestDatabase,
} from '@kv/testing';
import { migrate } from '../src/migrate';
import {
  callService,
  ServiceProcess,
  SECRET,
  startInProcess,
  uniqueBullPrefix,
  userIdentity,
  waitFor,
  workerEnv,
  type InProcessWorker,
} from './helpers';

let db: TestDatabase;
let admin: Knex;
let inventory: ServiceProcess;
let accounting: ServiceProcess;
let w: InProcessWorker;
let redis: Redis;
const prefix = uniqueBullPrefix('e2e');
const accountingRedisPrefix = uniquePrefix('acct-e2e');
const tenant = randomUUID();
const who = () => userIdentity(tenant);

interface Entry {
  id: string;
  source: { type: string; id: string } | null;
  lines: { account_id: string; debit: number; credit: number }[];
}

async function entriesFor(movementId: string): Promise<Entry[]> {
  const res = await callService(accounting.url, 'GET', '/v1/journal-entries?limit=200', who());
  expect(res.status).toBe(200);
  return (res.body.data as Entry[]).filter(
    (e) => e.source?.type === 'stock_movement' && e.source.id === movementId,
  );
}

async function accountCodes(): Promise<Map<string, string>> {
  const res = await callService(accounting.url, 'GET', '/v1/accounts?limit=200', who());
  return new Map((res.body.data as { id: string; code: string }[]).map((a) => [a.id, a.code]));
}

async function movementsOf(productId: string): Promise<{ id: string; type: string }[]> {
  const res = await callService(inventory.url, 'GET', `/v1/stock/movements?product_id=${productId}`, who());
  expect(res.status).toBe(200);
  return res.body.data as { id: string; type: string }[];
}

beforeAll(async () => {
  db = await createTestDatabase('worker_e2e');
  const owner = knexFactory({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
  await migrate(owner);
  await owner.destroy();
  admin = knexFactory({ client: 'pg', connection: db.urls.admin, pool: { min: 0, max: 2 } });
  redis = new Redis(DEFAULT_REDIS_URL);
  const common = {
    DATABASE_URL: db.urls.app,
    DATABASE_OWNER_URL: db.urls.owner,
    DATABASE_SYSTEM_URL: db.urls.system,
    REDIS_URL: DEFAULT_REDIS_URL,
    INTERNAL_SECRET: SECRET,
    MIGRATE_ON_START: 'true',
  };
  [inventory, accounting] = await Promise.all([
    ServiceProcess.start('inventory', { ...common, DB_POOL_MAX: '5' }),
    ServiceProcess.start('accounting', {
      ...common,
      DATABASE_POOL_MAX: '5',
      REDIS_PREFIX: accountingRedisPrefix,
    }),
  ]);
  w = startInProcess(
    workerEnv(
      db,
      { redisUrl: DEFAULT_REDIS_URL, prefix, accountingUrl: accounting.url, inventoryUrl: inventory.url },
      { EXPIRY_ENABLED: 'true' },
    ),
  );
}, 90_000);

afterAll(async () => {
  await w?.stop();
  await Promise.all([inventory?.kill('SIGTERM'), accounting?.kill('SIGTERM')]);
  await deleteKeys(redis, prefix);
  await deleteKeys(redis, accountingRedisPrefix);
  redis.disconnect();
  await admin?.destroy();
  await db?.drop();
});

describe('inventory → outbox → worker → accounting, end to end', () => {
  let warehouseId: string;
  let productId: string;

  it('posts a receipt as exactly one entry Dr 1300 / Cr 2100 at quantity × unit cost within 5 s', async () => {
    const wh = await callService(inventory.url, 'POST', '/v1/warehouses', who(), {
      code: 'W1',
      name: 'Main',
    });
    expect(wh.status).toBe(201);
    warehouseId = wh.body.id as string;
    const pr = await callService(inventory.url, 'POST', '/v1/products', who(), {
      sku: 'SKU-1',
      name: 'Widget',
    });
    expect(pr.status).toBe(201);
    productId = pr.body.id as string;
    const started = Date.now();
    const receipt = await callService(inventory.url, 'POST', '/v1/stock/receipts', who(), {
      warehouse_id: warehouseId,
      lines: [{ product_id: productId, quantity: 10, unit_cost: 250 }],
    });
    expect(receipt.status).toBe(201);
    const [movement] = (await movementsOf(productId)).filter((m) => m.type === 'receipt');
    const entries = (await waitFor(
      async () => {
        const e = await entriesFor(movement!.id);
        return e.length > 0 ? e : undefined;
      },
      5000,
      50,
    ))!;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(entries).toHaveLength(1);
    const codes = await accountCodes();
    const lines = entries[0]!.lines.map((l) => ({
      code: codes.get(l.account_id),
      debit: l.debit,
      credit: l.credit,
    }));
    expect(lines).toEqual(
      expect.arrayContaining([
        { code: '1300', debit: 2500, credit: 0 },
        { code: '2100', debit: 0, credit: 2500 },
      ]),
    );
    expect(lines).toHaveLength(2);
  });

  it('posts a committed reservation as exactly one entry Dr 5000 / Cr 1300 at quantity × average cost within 5 s', async () => {
    const res = await callService(inventory.url, 'POST', '/v1/reservations', who(), {
      warehouse_id: warehouseId,
      lines: [{ product_id: productId, quantity: 4 }],
    });
    expect(res.status).toBe(201);
    const started = Date.now();
    const commit = await callService(
      inventory.url,
      'POST',
      `/v1/reservations/${res.body.id as string}/commit`,
      who(),
    );
    expect(commit.status).toBe(200);
    const [shipment] = (await movementsOf(productId)).filter((m) => m.type === 'shipment');
    const entries = (await waitFor(
      async () => {
        const e = await entriesFor(shipment!.id);
        return e.length > 0 ? e : undefined;
      },
      5000,
      50,
    ))!;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(entries).toHaveLength(1);
    const codes = await accountCodes();
    const lines = entries[0]!.lines.map((l) => ({
      code: codes.get(l.account_id),
      debit: l.debit,
      credit: l.credit,
    }));
    expect(lines).toEqual(
      expect.arrayContaining([
        { code: '5000', debit: 1000, credit: 0 },
        { code: '1300', debit: 0, credit: 1000 },
      ]),
    );
    // Still exactly one entry per movement a moment later, and the outbox is drained.
    await new Promise((r) => setTimeout(r, 500));
    for (const m of await movementsOf(productId)) expect(await entriesFor(m.id)).toHaveLength(1);
    const pending = await admin.raw<{ rows: { n: number }[] }>(
      `SELECT count(*)::int AS n FROM inventory.outbox WHERE status = 'pending'`,
    );
    expect(pending.rows[0]!.n).toBe(0);
  });

  it('releases an expired reservation within 5 s of its expiry (the worker sweeps every second)', async () => {
    const res = await callService(inventory.url, 'POST', '/v1/reservations', who(), {
      warehouse_id: warehouseId,
      lines: [{ product_id: productId, quantity: 1 }],
      ttl_seconds: 1,
    });
    expect(res.status).toBe(201);
    const expiresAt = Date.parse(res.body.expires_at as string);
    await waitFor(
      async () => {
        const row = await admin('inventory.reservations').where({ id: res.body.id }).first();
        return row.status === 'expired';
      },
      8000,
      50,
    );
    expect(Date.now() - expiresAt).toBeLessThan(5000);
    const stock = await callService(inventory.url, 'GET', `/v1/stock?product_id=${productId}`, who());
    expect((stock.body.data as { reserved: number }[])[0]!.reserved).toBe(0);
  });
});
