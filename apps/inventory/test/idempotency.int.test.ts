import { race } from '@kv/testing';
import { ownerQuery, startTestApp, tenantFixture, type TenantFixture, type TestApp } from './helpers';

let t: TestApp;
let f: TenantFixture;
let w: string;
let p: string;

beforeAll(async () => {
  t = await startTestApp('idem');
  f = tenantFixture(t);
  w = await f.warehouse();
  p = await f.product();
  await f.receive(w, p, 1000);
});
afterAll(async () => {
  await t.close();
});

const countReservations = async () =>
  Number(
    (await ownerQuery<{ n: string }>(t, f.tenantId, 'SELECT count(*) AS n FROM inventory.reservations'))[0]!
      .n,
  );

describe('Idempotency-Key', () => {
  it('replays the stored status and body with Idempotent-Replayed: true, changing nothing', async () => {
    const body = { warehouse_id: w, lines: [{ product_id: p, quantity: 3 }] };
    const before = await countReservations();
    const first = await f.admin.post('/v1/reservations', body, { 'Idempotency-Key': 'replay-1' });
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // same body with keys in another order compares equal as parsed JSON
    const again = await f.admin.post(
      '/v1/reservations',
      { lines: [{ quantity: 3, product_id: p }], warehouse_id: w },
      { 'Idempotency-Key': 'replay-1' },
    );
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await countReservations()).toBe(before + 1);
    expect((await f.stock(p, w)).reserved).toBe(3);
  });

  it('answers 422 idempotency-key-reused for the same key with a different body', async () => {
    await f.admin
      .post('/v1/warehouses', { code: 'IDEM-1', name: 'a' }, { 'Idempotency-Key': 'reuse' })
      .expect(201);
    const other = await f.admin.post(
      '/v1/warehouses',
      { code: 'IDEM-2', name: 'b' },
      { 'Idempotency-Key': 'reuse' },
    );
    expect(other.status).toBe(422);
    expect(other.body.type).toBe('idempotency-key-reused');
    const list = await f.admin.get('/v1/warehouses?limit=200');
    expect(list.body.data.map((x: { code: string }) => x.code)).not.toContain('IDEM-2');
  });

  it('applies 20 concurrent same-key reservations once, and all 20 get the same body', async () => {
    const before = await countReservations();
    const reservedBefore = (await f.stock(p, w)).reserved;
    const body = { warehouse_id: w, lines: [{ product_id: p, quantity: 7 }] };
    const results = await race(20, () =>
      f.admin.post('/v1/reservations', body, { 'Idempotency-Key': 'race-20' }),
    );
    const ok = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    expect(ok.map((r) => r?.status)).toEqual(Array(20).fill(201));
    // Equal as parsed JSON (a replay comes from jsonb, whose key order may differ from the first response's).
    for (const r of ok) expect(r!.body).toEqual(ok[0]!.body);
    expect(ok.filter((r) => r!.headers['idempotent-replayed'] === 'true')).toHaveLength(19);
    expect(await countReservations()).toBe(before + 1);
    expect((await f.stock(p, w)).reserved).toBe(reservedBefore + 7);
  });

  it('commits once for 20 concurrent same-key commits (one shipment movement)', async () => {
    const r = await f.admin
      .post('/v1/reservations', { warehouse_id: w, lines: [{ product_id: p, quantity: 2 }] })
      .expect(201);
    const results = await race(20, () =>
      f.admin.post(`/v1/reservations/${r.body.id}/commit`, undefined, { 'Idempotency-Key': 'commit-race' }),
    );
    expect(results.map((x) => (x.status === 'fulfilled' ? x.value.status : -1))).toEqual(Array(20).fill(200));
    const shipments = await ownerQuery<{ n: string }>(
      t,
      f.tenantId,
      `SELECT count(*) AS n FROM inventory.stock_movements WHERE document_id = ?`,
      [r.body.id],
    );
    expect(Number(shipments[0]!.n)).toBe(1);
  });

  it('scopes keys by path and tenant, and does not store a failed (4xx) attempt', async () => {
    await f.admin
      .post('/v1/products', { sku: 'IDEM-P', name: 'p' }, { 'Idempotency-Key': 'shared' })
      .expect(201);
    const w2 = await f.admin.post(
      '/v1/warehouses',
      { code: 'IDEM-W', name: 'w' },
      { 'Idempotency-Key': 'shared' },
    );
    expect(w2.status).toBe(201);
    expect(w2.headers['idempotent-replayed']).toBeUndefined();
    const other = tenantFixture(t);
    const o = await other.admin.post(
      '/v1/products',
      { sku: 'IDEM-P', name: 'p' },
      { 'Idempotency-Key': 'shared' },
    );
    expect(o.status).toBe(201);
    expect(o.headers['idempotent-replayed']).toBeUndefined();

    const p2 = await f.product();
    const body = { warehouse_id: w, lines: [{ product_id: p2, quantity: 1 }] };
    const short = await f.admin.post('/v1/reservations', body, { 'Idempotency-Key': 'after-409' });
    expect(short.status).toBe(409);
    await f.receive(w, p2, 1);
    const retry = await f.admin.post('/v1/reservations', body, { 'Idempotency-Key': 'after-409' });
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
  });

  it('rejects an empty or over-long key with 400', async () => {
    const long = await f.admin.post(
      '/v1/warehouses',
      { code: 'K', name: 'k' },
      { 'Idempotency-Key': 'x'.repeat(256) },
    );
    expect(long.status).toBe(400);
    expect(long.body.type).toBe('validation-error');
    const empty = await f.admin.post('/v1/warehouses', { code: 'K', name: 'k' }, { 'Idempotency-Key': '' });
    expect(empty.status).toBe(400);
    const max = await f.admin.post(
      '/v1/warehouses',
      { code: 'K255', name: 'k' },
      { 'Idempotency-Key': 'y'.repeat(255) },
    );
    expect(max.status).toBe(201);
  });
});
