import { race, sleep } from '@kv/testing';
import {
  NIL_TENANT,
  ownerQuery,
  startTestApp,
  tenantFixture,
  type Client,
  type TenantFixture,
  type TestApp,
} from './helpers';

let t: TestApp;
let service: Client;

beforeAll(async () => {
  t = await startTestApp('expiry');
  service = t.client({ tenantId: NIL_TENANT, userId: null, roles: [], permissions: [], kind: 'service' });
});
afterAll(async () => {
  await t.close();
});

describe('reservation expiry', () => {
  it('reads as expired past expires_at before the sweep, and refuses commit and release with 409', async () => {
    const f = tenantFixture(t);
    const w = await f.warehouse();
    const p = await f.product();
    await f.receive(w, p, 10);
    const r = await f.admin
      .post('/v1/reservations', { warehouse_id: w, lines: [{ product_id: p, quantity: 4 }], ttl_seconds: 1 })
      .expect(201);
    await sleep(1100);
    const got = await f.admin.get(`/v1/reservations/${r.body.id}`);
    expect(got.body.status).toBe('expired');
    const commit = await f.admin.post(`/v1/reservations/${r.body.id}/commit`);
    expect([commit.status, commit.body.type]).toEqual([409, 'conflict']);
    expect((await f.admin.post(`/v1/reservations/${r.body.id}/release`)).status).toBe(409);
    await service.post('/internal/reservations/expire-due').expect(200);
    expect(await f.stock(p, w)).toMatchObject({ reserved: 0, available: 10 });
    expect((await f.admin.get(`/v1/reservations/${r.body.id}`)).body.status).toBe('expired');
  });

  it('releases each due reservation exactly once across tenants when the sweep is called concurrently', async () => {
    const tenants = [tenantFixture(t), tenantFixture(t)];
    const setups = [];
    for (const f of tenants) {
      const w = await f.warehouse();
      const p1 = await f.product();
      const p2 = await f.product();
      await f.receive(w, p1, 1000);
      await f.receive(w, p2, 1000);
      setups.push({ f, w, p1, p2 });
    }
    const created: string[] = [];
    for (const { f, w, p1, p2 } of setups) {
      const results = await race(30, (i) =>
        f.admin.post('/v1/reservations', {
          warehouse_id: w,
          lines: [
            { product_id: p1, quantity: 1 + (i % 3) },
            { product_id: p2, quantity: 2 },
          ],
          ttl_seconds: 1,
        }),
      );
      for (const r of results)
        if (r.status === 'fulfilled' && r.value.status === 201) created.push(r.value.body.id);
      // one long-lived reservation that must survive the sweep
      await f.admin
        .post('/v1/reservations', {
          warehouse_id: w,
          lines: [{ product_id: p1, quantity: 5 }],
          ttl_seconds: 600,
        })
        .expect(201);
    }
    expect(created).toHaveLength(60);
    await sleep(1100);
    const sweeps = await race(8, () => service.post('/internal/reservations/expire-due'));
    const counts = sweeps.map((s) =>
      s.status === 'fulfilled' && s.value.status === 200 ? (s.value.body.expired as number) : NaN,
    );
    expect(counts.reduce((x, y) => x + y, 0)).toBe(60);
    expect((await service.post('/internal/reservations/expire-due')).body).toEqual({ expired: 0 });
    for (const { f, w, p1, p2 } of setups) {
      expect(await f.stock(p1, w)).toMatchObject({ reserved: 5 });
      expect(await f.stock(p2, w)).toMatchObject({ reserved: 0 });
      const audit = await ownerQuery<{ entity_id: string; n: string; actor: string | null }>(
        t,
        f.tenantId,
        `SELECT entity_id, count(*) AS n, max(actor_id::text) AS actor FROM inventory.audit_events WHERE action = 'reservation.expire' GROUP BY entity_id`,
      );
      expect(audit).toHaveLength(30);
      expect(audit.every((a) => a.n === '1' && a.actor === null)).toBe(true);
    }
  });
});

describe('ABAC: warehouse_ids', () => {
  let f: TenantFixture;
  let allowed: string;
  let other: string;
  let p: string;
  let restricted: Client;

  beforeAll(async () => {
    f = tenantFixture(t);
    allowed = await f.warehouse();
    other = await f.warehouse();
    p = await f.product();
    await f.receive(allowed, p, 100);
    await f.receive(other, p, 100);
    restricted = t.client({
      tenantId: f.tenantId,
      roles: ['inventory_manager'],
      attributes: { warehouse_ids: [allowed.toUpperCase()] },
    });
  });

  it('lets a restricted user change stock only in its warehouses (403 forbidden elsewhere, nothing changed)', async () => {
    expect(
      (
        await restricted.post('/v1/reservations', {
          warehouse_id: allowed,
          lines: [{ product_id: p, quantity: 1 }],
        })
      ).status,
    ).toBe(201);
    const denied = [
      await restricted.post('/v1/reservations', {
        warehouse_id: other,
        lines: [{ product_id: p, quantity: 1 }],
      }),
      await restricted.post('/v1/stock/receipts', {
        warehouse_id: other,
        lines: [{ product_id: p, quantity: 1, unit_cost: 1 }],
      }),
      await restricted.post('/v1/stock/adjustments', {
        warehouse_id: other,
        product_id: p,
        quantity_delta: -1,
        reason: 'x',
      }),
      await restricted.post('/v1/stock/transfers', {
        from_warehouse_id: allowed,
        to_warehouse_id: other,
        lines: [{ product_id: p, quantity: 1 }],
      }),
      await restricted.post('/v1/stock/transfers', {
        from_warehouse_id: other,
        to_warehouse_id: allowed,
        lines: [{ product_id: p, quantity: 1 }],
      }),
    ];
    expect(denied.map((d) => [d.status, d.body.type])).toEqual(Array(5).fill([403, 'forbidden']));
    expect(await f.stock(p, other)).toMatchObject({ on_hand: 100, reserved: 0 });
    expect(
      (
        await restricted.post('/v1/stock/adjustments', {
          warehouse_id: allowed,
          product_id: p,
          quantity_delta: 1,
          reason: 'x',
        })
      ).status,
    ).toBe(201);
  });

  it('counts commit and release as changes, and leaves reads unrestricted', async () => {
    const r = await f.admin
      .post('/v1/reservations', { warehouse_id: other, lines: [{ product_id: p, quantity: 2 }] })
      .expect(201);
    expect((await restricted.post(`/v1/reservations/${r.body.id}/commit`)).status).toBe(403);
    expect((await restricted.post(`/v1/reservations/${r.body.id}/release`)).status).toBe(403);
    expect((await restricted.get(`/v1/reservations/${r.body.id}`)).body.status).toBe('active');
    expect((await restricted.get(`/v1/stock?warehouse_id=${other}`)).status).toBe(200);
    expect((await restricted.get(`/v1/stock/movements?warehouse_id=${other}`)).status).toBe(200);
    const mine = await restricted
      .post('/v1/reservations', { warehouse_id: allowed, lines: [{ product_id: p, quantity: 2 }] })
      .expect(201);
    expect((await restricted.post(`/v1/reservations/${mine.body.id}/commit`)).status).toBe(200);
  });

  it('lets a user with an empty warehouse list change nothing, and one without the attribute change anything', async () => {
    const none = t.client({
      tenantId: f.tenantId,
      roles: ['inventory_manager'],
      attributes: { warehouse_ids: [] },
    });
    expect(
      (
        await none.post('/v1/reservations', {
          warehouse_id: allowed,
          lines: [{ product_id: p, quantity: 1 }],
        })
      ).status,
    ).toBe(403);
    const free = t.client({ tenantId: f.tenantId, roles: ['inventory_manager'] });
    expect(
      (await free.post('/v1/reservations', { warehouse_id: other, lines: [{ product_id: p, quantity: 1 }] }))
        .status,
    ).toBe(201);
  });
});
