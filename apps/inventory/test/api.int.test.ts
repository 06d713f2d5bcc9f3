import { randomUUID } from 'node:crypto';
import { ownerQuery, startTestApp, tenantFixture, type TenantFixture, type TestApp } from './helpers';

let t: TestApp;
let a: TenantFixture;

beforeAll(async () => {
  t = await startTestApp('api');
  a = tenantFixture(t);
});
afterAll(async () => {
  await t.close();
});

describe('warehouses and products', () => {
  it('creates a warehouse and lists warehouses by code with cursor pagination', async () => {
    const created = await a.admin.post('/v1/warehouses', { code: 'ZZ-MAIN', name: 'Main' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), code: 'ZZ-MAIN', name: 'Main' });
    for (const code of ['ZZ-A', 'ZZ-B', 'ZZ-C']) await a.warehouse(code);
    const first = await a.admin.get('/v1/warehouses?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await a.admin.get(`/v1/warehouses?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      all.push(...page.body.data.map((w: { code: string }) => w.code));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(all).toEqual(['ZZ-A', 'ZZ-B', 'ZZ-C', 'ZZ-MAIN']);
    const one = await a.admin.get(`/v1/warehouses/${created.body.id}`);
    expect(one.body).toEqual(created.body);
  });

  it('answers 409 conflict for a duplicate sku in the same tenant, but allows it in another tenant', async () => {
    const first = await a.admin.post('/v1/products', { sku: 'DUP-1', name: 'One' });
    expect(first.status).toBe(201);
    expect(first.body.unit).toBe('unit');
    const dup = await a.admin.post('/v1/products', { sku: 'DUP-1', name: 'Again' });
    expect(dup.status).toBe(409);
    expect(dup.body.type).toBe('conflict');
    const other = tenantFixture(t);
    const elsewhere = await other.admin.post('/v1/products', {
      sku: 'DUP-1',
      name: 'Other tenant',
      unit: 'kg',
    });
    expect(elsewhere.status).toBe(201);
    expect(elsewhere.body.unit).toBe('kg');
    const dupWarehouse = await a.admin.post('/v1/warehouses', { code: 'ZZ-MAIN', name: 'x' });
    expect(dupWarehouse.status).toBe(409);
  });

  it('gets a product and pages products by sku', async () => {
    const b = tenantFixture(t);
    const ids = [];
    for (const sku of ['C', 'A', 'B']) ids.push(await b.product(sku));
    const got = await b.admin.get(`/v1/products/${ids[0]}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: ids[0], sku: 'C' });
    const p1 = await b.admin.get('/v1/products?limit=2');
    expect(p1.body.data.map((p: { sku: string }) => p.sku)).toEqual(['A', 'B']);
    const p2 = await b.admin.get(`/v1/products?limit=2&cursor=${p1.body.next_cursor}`);
    expect(p2.body.data.map((p: { sku: string }) => p.sku)).toEqual(['C']);
    expect(p2.body.next_cursor).toBeNull();
  });
});

describe('receipts and the moving-average cost', () => {
  it('recomputes the average as round-half-up of the weighted mean on each receipt', async () => {
    const w = await a.warehouse();
    const p = await a.product();
    await a.receive(w, p, 3, 100);
    expect(await a.stock(p, w)).toEqual({
      product_id: p,
      warehouse_id: w,
      on_hand: 3,
      reserved: 0,
      available: 3,
      average_cost: 100,
    });
    // (3*100 + 1*101) / 4 = 100.25 → 100
    await a.receive(w, p, 1, 101);
    expect((await a.stock(p, w)).average_cost).toBe(100);
    // (4*100 + 4*101) / 8 = 100.5 → 101 (half rounds up)
    await a.receive(w, p, 4, 101);
    expect((await a.stock(p, w)).average_cost).toBe(101);
    // (8*101 + 1*0) / 9 = 89.78 → 90
    await a.receive(w, p, 1, 0);
    const s = await a.stock(p, w);
    expect(s).toMatchObject({ on_hand: 9, average_cost: 90 });
  });

  it('is exact for huge values (products past 2^63 are computed in numeric)', async () => {
    const w = await a.warehouse();
    const p = await a.product();
    await a.receive(w, p, 1_000_000_000_000, 1_000_000_000_000);
    await a.receive(w, p, 1_000_000_000_000, 999_999_999_999);
    // (1e24 + 999999999999e12) / 2e12 = 999999999999.5 → 1e12
    expect((await a.stock(p, w)).average_cost).toBe(1_000_000_000_000);
  });

  it('returns the receipt with one movement per line and writes the ledger and outbox', async () => {
    const w = await a.warehouse();
    const p1 = await a.product();
    const p2 = await a.product();
    const res = await a.admin.post('/v1/stock/receipts', {
      warehouse_id: w,
      reference: 'PO-42',
      lines: [
        { product_id: p2, quantity: 5, unit_cost: 250 },
        { product_id: p1, quantity: 2, unit_cost: 10 },
        { product_id: p2, quantity: 5, unit_cost: 350 },
      ],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.any(String),
      warehouse_id: w,
      reference: 'PO-42',
      created_at: expect.any(String),
    });
    expect(res.body.lines.map((l: { product_id: string }) => l.product_id)).toEqual([p2, p1, p2]);
    expect((await a.stock(p2, w)).average_cost).toBe(300);
    const mv = await a.admin.get(`/v1/stock/movements?product_id=${p2}`);
    expect(mv.status).toBe(200);
    expect(mv.body.data).toHaveLength(2);
    expect(mv.body.data[0]).toMatchObject({
      type: 'receipt',
      warehouse_id: w,
      reference: 'PO-42',
      document_type: 'receipt',
      document_id: res.body.id,
    });
    const outbox = await ownerQuery<{ id: string; topic: string; payload: Record<string, unknown> }>(
      t,
      a.tenantId,
      `SELECT id, topic, payload FROM inventory.outbox WHERE id = ANY(?::uuid[]) ORDER BY payload->>'unit_cost'`,
      [res.body.lines.map((l: { movement_id: string }) => l.movement_id)],
    );
    expect(outbox).toHaveLength(3);
    expect(outbox.map((o) => o.topic)).toEqual([
      'inventory.stock_movement',
      'inventory.stock_movement',
      'inventory.stock_movement',
    ]);
    const first = outbox.find((o) => o.payload.product_id === p1)!;
    expect(first.payload).toEqual({
      movement_id: first.id,
      tenant_id: a.tenantId,
      type: 'receipt',
      product_id: p1,
      warehouse_id: w,
      quantity: 2,
      unit_cost: 10,
      value: 20,
      occurred_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      reference: 'PO-42',
    });
  });
});

describe('reservations', () => {
  it('reserves (merging lines of the same product), commits (shipment at the average) and refuses a second commit', async () => {
    const w = await a.warehouse();
    const p = await a.product();
    await a.receive(w, p, 10, 7);
    const r = await a.admin.post('/v1/reservations', {
      warehouse_id: w,
      lines: [
        { product_id: p, quantity: 2 },
        { product_id: p, quantity: 3 },
      ],
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      status: 'active',
      warehouse_id: w,
      lines: [{ product_id: p, quantity: 5 }],
    });
    const ttl = Date.parse(r.body.expires_at) - Date.parse(r.body.created_at);
    expect(ttl).toBeGreaterThan(899_000);
    expect(ttl).toBeLessThan(901_000);
    expect(await a.stock(p, w)).toMatchObject({ on_hand: 10, reserved: 5, available: 5 });
    const got = await a.admin.get(`/v1/reservations/${r.body.id}`);
    expect(got.body).toEqual(r.body);

    const c = await a.admin.post(`/v1/reservations/${r.body.id}/commit`);
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ id: r.body.id, status: 'committed' });
    expect(await a.stock(p, w)).toMatchObject({ on_hand: 5, reserved: 0, available: 5 });
    const mv = await a.admin.get(`/v1/stock/movements?product_id=${p}&warehouse_id=${w}`);
    expect(mv.body.data[0]).toMatchObject({
      type: 'shipment',
      quantity: -5,
      unit_cost: 7,
      document_type: 'reservation',
      document_id: r.body.id,
    });

    const again = await a.admin.post(`/v1/reservations/${r.body.id}/commit`);
    expect(again.status).toBe(409);
    expect(again.body.type).toBe('conflict');
    const release = await a.admin.post(`/v1/reservations/${r.body.id}/release`);
    expect(release.status).toBe(409);
  });

  it('releases a reservation and then refuses to commit it', async () => {
    const w = await a.warehouse();
    const p = await a.product();
    await a.receive(w, p, 4);
    const r = await a.admin.post('/v1/reservations', {
      warehouse_id: w,
      lines: [{ product_id: p, quantity: 4 }],
      ttl_seconds: 60,
    });
    expect(r.status).toBe(201);
    const rel = await a.admin.post(`/v1/reservations/${r.body.id}/release`);
    expect(rel.status).toBe(200);
    expect(rel.body.status).toBe('released');
    expect(await a.stock(p, w)).toMatchObject({ on_hand: 4, reserved: 0 });
    expect((await a.admin.post(`/v1/reservations/${r.body.id}/commit`)).status).toBe(409);
  });

  it('reserves all lines or none: one short line leaves every row unchanged', async () => {
    const w = await a.warehouse();
    const p1 = await a.product();
    const p2 = await a.product();
    await a.receive(w, p1, 10);
    await a.receive(w, p2, 1);
    const r = await a.admin.post('/v1/reservations', {
      warehouse_id: w,
      lines: [
        { product_id: p1, quantity: 5 },
        { product_id: p2, quantity: 2 },
      ],
    });
    expect(r.status).toBe(409);
    expect(r.body.type).toBe('insufficient-stock');
    expect(await a.stock(p1, w)).toMatchObject({ reserved: 0 });
    expect(await a.stock(p2, w)).toMatchObject({ reserved: 0 });
    // merged lines count together: 1 + 1 > 1
    const merged = await a.admin.post('/v1/reservations', {
      warehouse_id: w,
      lines: [
        { product_id: p2, quantity: 1 },
        { product_id: p2, quantity: 1 },
      ],
    });
    expect(merged.status).toBe(409);
    const none = await a.admin.post('/v1/reservations', {
      warehouse_id: w,
      lines: [{ product_id: await a.product(), quantity: 1 }],
    });
    expect(none.status).toBe(409);
    expect(none.body.type).toBe('insufficient-stock');
  });
});

describe('adjustments and transfers', () => {
  it('adjusts up and down at the average in force and refuses to take reserved goods', async () => {
    const w = await a.warehouse();
    const p = await a.product();
    await a.receive(w, p, 10, 50);
    const up = await a.admin.post('/v1/stock/adjustments', {
      warehouse_id: w,
      product_id: p,
      quantity_delta: 2,
      reason: 'found',
    });
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({
      warehouse_id: w,
      product_id: p,
      quantity_delta: 2,
      reason: 'found',
      movement_id: expect.any(String),
    });
    await a.admin
      .post('/v1/reservations', { warehouse_id: w, lines: [{ product_id: p, quantity: 8 }] })
      .expect(201);
    const tooMuch = await a.admin.post('/v1/stock/adjustments', {
      warehouse_id: w,
      product_id: p,
      quantity_delta: -5,
      reason: 'lost',
    });
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.body.type).toBe('insufficient-stock');
    const down = await a.admin.post('/v1/stock/adjustments', {
      warehouse_id: w,
      product_id: p,
      quantity_delta: -4,
      reason: 'lost',
    });
    expect(down.status).toBe(201);
    expect(await a.stock(p, w)).toMatchObject({ on_hand: 8, reserved: 8, available: 0, average_cost: 50 });
    const mv = await a.admin.get(`/v1/stock/movements?product_id=${p}&limit=1`);
    expect(mv.body.data[0]).toMatchObject({ type: 'adjustment', quantity: -4, unit_cost: 50 });
    expect(mv.body.next_cursor).toEqual(expect.any(String));
    const rest = await a.admin.get(`/v1/stock/movements?product_id=${p}&cursor=${mv.body.next_cursor}`);
    expect(rest.body.data.map((m: { type: string }) => m.type)).toEqual(['adjustment', 'receipt']);
  });

  it('transfers atomically, carrying the average cost into the destination average', async () => {
    const from = await a.warehouse();
    const to = await a.warehouse();
    const p = await a.product();
    const q = await a.product();
    await a.receive(from, p, 10, 100);
    await a.receive(to, p, 10, 200);
    await a.receive(from, q, 1, 5);
    const ok = await a.admin.post('/v1/stock/transfers', {
      from_warehouse_id: from,
      to_warehouse_id: to,
      lines: [
        { product_id: p, quantity: 3 },
        { product_id: p, quantity: 2 },
      ],
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({
      from_warehouse_id: from,
      to_warehouse_id: to,
      lines: [{ product_id: p, quantity: 5 }],
    });
    expect(await a.stock(p, from)).toMatchObject({ on_hand: 5, average_cost: 100 });
    // (10*200 + 5*100) / 15 = 166.67 → 167
    expect(await a.stock(p, to)).toMatchObject({ on_hand: 15, average_cost: 167 });
    const short = await a.admin.post('/v1/stock/transfers', {
      from_warehouse_id: from,
      to_warehouse_id: to,
      lines: [
        { product_id: p, quantity: 1 },
        { product_id: q, quantity: 2 },
      ],
    });
    expect(short.status).toBe(409);
    expect(short.body.type).toBe('insufficient-stock');
    expect(await a.stock(p, from)).toMatchObject({ on_hand: 5 });
    expect(await a.stock(q, to)).toMatchObject({ on_hand: 0 });
    const mv = await a.admin.get(`/v1/stock/movements?product_id=${p}&limit=2`);
    expect(
      mv.body.data
        .map((m: { type: string; quantity: number; unit_cost: number }) => [m.type, m.quantity, m.unit_cost])
        .sort(),
    ).toEqual([
      ['transfer_in', 5, 100],
      ['transfer_out', -5, 100],
    ]);
  });
});

describe('audit events and operations', () => {
  it('audits every change in the same transaction and lists them newest first by entity', async () => {
    const w = await a.warehouse();
    const p = await a.product();
    await a.receive(w, p, 5);
    const r = await a.admin.post('/v1/reservations', {
      warehouse_id: w,
      lines: [{ product_id: p, quantity: 1 }],
    });
    await a.admin.post(`/v1/reservations/${r.body.id}/release`).expect(200);
    const events = await a.admin.get(`/v1/audit-events?entity_type=reservation&entity_id=${r.body.id}`);
    expect(events.status).toBe(200);
    expect(events.body.data.map((e: { action: string }) => e.action)).toEqual([
      'reservation.release',
      'reservation.create',
    ]);
    expect(events.body.data[0]).toMatchObject({
      entity_type: 'reservation',
      entity_id: r.body.id,
      actor_id: expect.any(String),
      request_id: expect.any(String),
    });
    const all = await a.admin.get('/v1/audit-events?limit=200');
    const types = new Set(all.body.data.map((e: { entity_type: string }) => e.entity_type));
    for (const type of ['warehouse', 'product', 'receipt', 'reservation']) expect(types.has(type)).toBe(true);
    const viewer = t.client({ tenantId: a.tenantId, roles: ['viewer'] });
    expect((await viewer.get('/v1/audit-events')).status).toBe(403);
  });

  it('serves health, readiness and metrics without an identity', async () => {
    const anon = t.anonymous();
    expect((await anon.get('/health/live')).body).toEqual({ status: 'ok' });
    const ready = await anon.get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.database.status).toBe('healthy');
    const metrics = await anon.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('http_request_duration_seconds');
    expect(metrics.text).toContain('inventory_reservations_total');
  });

  it('echoes a sane X-Request-Id and records it in the audit row', async () => {
    const res = await a.admin.post(
      '/v1/warehouses',
      { code: `RID-${randomUUID().slice(0, 8)}`, name: 'x' },
      { 'X-Request-Id': 'req-abc-123' },
    );
    expect(res.headers['x-request-id']).toBe('req-abc-123');
    const ev = await a.admin.get(`/v1/audit-events?entity_type=warehouse&entity_id=${res.body.id}`);
    expect(ev.body.data[0].request_id).toBe('req-abc-123');
  });
});
