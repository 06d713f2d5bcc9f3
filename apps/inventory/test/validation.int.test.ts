import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { checkInvariants, startTestApp, tenantFixture, type TenantFixture, type TestApp } from './helpers';

let t: TestApp;
let f: TenantFixture;
let w: string;
let w2: string;
let p: string;

beforeAll(async () => {
  t = await startTestApp('validation');
  f = tenantFixture(t);
  w = await f.warehouse('V-W1');
  w2 = await f.warehouse('V-W2');
  p = await f.product('V-P');
  await f.receive(w, p, 100, 10);
});
afterAll(async () => {
  await t.close();
});

type Case = [name: string, path: string, body: unknown];

const line = (over: Record<string, unknown> = {}) => ({ product_id: p, quantity: 1, ...over });

function badBodies(): Case[] {
  const reserve = (over: Record<string, unknown>, l: Record<string, unknown> = {}) =>
    ['/v1/reservations', { warehouse_id: w, lines: [line(l)], ...over }] as const;
  const receipt = (over: Record<string, unknown>, l: Record<string, unknown> = {}) =>
    [
      '/v1/stock/receipts',
      { warehouse_id: w, ...over, lines: [{ product_id: p, quantity: 1, unit_cost: 1, ...l }] },
    ] as const;
  const adjust = (over: Record<string, unknown>) =>
    [
      '/v1/stock/adjustments',
      { warehouse_id: w, product_id: p, quantity_delta: 1, reason: 'r', ...over },
    ] as const;
  const transfer = (over: Record<string, unknown>, l: Record<string, unknown> = {}) =>
    [
      '/v1/stock/transfers',
      { from_warehouse_id: w, to_warehouse_id: w2, lines: [line(l)], ...over },
    ] as const;
  return [
    ['reserve: zero quantity', ...reserve({}, { quantity: 0 })],
    ['reserve: negative quantity', ...reserve({}, { quantity: -1 })],
    ['reserve: fractional quantity', ...reserve({}, { quantity: 1.5 })],
    ['reserve: quantity as a string', ...reserve({}, { quantity: '5' })],
    ['reserve: quantity past 10^12', ...reserve({}, { quantity: 1e12 + 1 })],
    ['reserve: quantity null', ...reserve({}, { quantity: null })],
    ['reserve: missing lines', '/v1/reservations', { warehouse_id: w }],
    ['reserve: empty lines', ...reserve({ lines: [] })],
    ['reserve: lines not an array', ...reserve({ lines: { product_id: p, quantity: 1 } })],
    ['reserve: missing warehouse', '/v1/reservations', { lines: [line()] }],
    ['reserve: malformed warehouse id', ...reserve({ warehouse_id: 'nope' })],
    ['reserve: malformed product id', ...reserve({}, { product_id: 123 })],
    ['reserve: ttl 0', ...reserve({ ttl_seconds: 0 })],
    ['reserve: ttl past a day', ...reserve({ ttl_seconds: 86_401 })],
    ['reserve: ttl as string', ...reserve({ ttl_seconds: '60' })],
    ['reserve: body is an array', '/v1/reservations', [line()]],
    ['reserve: body is a string', '/v1/reservations', 'hello'],
    ['receipt: negative cost', ...receipt({}, { unit_cost: -1 })],
    ['receipt: fractional cost', ...receipt({}, { unit_cost: 0.5 })],
    ['receipt: cost past 10^12', ...receipt({}, { unit_cost: 1e12 + 1 })],
    ['receipt: zero quantity', ...receipt({}, { quantity: 0 })],
    ['receipt: reference with NUL', ...receipt({ reference: 'a\u0000b' })],
    ['receipt: reference of 201 code points', ...receipt({ reference: '😀'.repeat(201) })],
    ['receipt: reference with a lone surrogate', ...receipt({ reference: 'a\ud800' })],
    ['adjust: zero delta', ...adjust({ quantity_delta: 0 })],
    ['adjust: fractional delta', ...adjust({ quantity_delta: -0.5 })],
    ['adjust: delta past -10^12', ...adjust({ quantity_delta: -1e12 - 1 })],
    ['adjust: missing reason', ...adjust({ reason: undefined })],
    ['adjust: empty reason', ...adjust({ reason: '' })],
    ['adjust: reason of 1001 characters', ...adjust({ reason: 'r'.repeat(1001) })],
    ['transfer: same warehouse', ...transfer({ to_warehouse_id: w })],
    ['transfer: zero quantity', ...transfer({}, { quantity: 0 })],
    ['transfer: missing to', '/v1/stock/transfers', { from_warehouse_id: w, lines: [line()] }],
    ['warehouse: code of 65 characters', '/v1/warehouses', { code: 'c'.repeat(65), name: 'n' }],
    ['warehouse: name of 201 characters', '/v1/warehouses', { code: 'c', name: 'n'.repeat(201) }],
    ['warehouse: code with NUL', '/v1/warehouses', { code: 'a\u0000', name: 'n' }],
    ['warehouse: code a number', '/v1/warehouses', { code: 5, name: 'n' }],
    ['product: missing sku', '/v1/products', { name: 'n' }],
    ['product: sku with a lone surrogate', '/v1/products', { sku: '\udc00x', name: 'n' }],
    ['product: unit of 201 characters', '/v1/products', { sku: 'ok', name: 'n', unit: 'u'.repeat(201) }],
  ];
}

describe('request validation', () => {
  it('answers 400 validation-error with field errors for each malformed body, and changes nothing', async () => {
    const failures: string[] = [];
    for (const [name, path, body] of badBodies()) {
      const res = await f.admin.post(path, body);
      if (res.status !== 400 || res.body.type !== 'validation-error' || !(res.body.errors?.length > 0)) {
        failures.push(`${name}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await f.stock(p, w)).toMatchObject({ on_hand: 100, reserved: 0, average_cost: 10 });
    expect(await checkInvariants(t, f.tenantId)).toEqual({ badRanges: 0, ledgerMismatches: 0 });
  });

  it('accepts the bounds themselves: 64-character code, 1000-character reason, 10^12 quantities, emoji counted as one', async () => {
    expect(
      (await f.admin.post('/v1/warehouses', { code: '😀'.repeat(64), name: 'n'.repeat(200) })).status,
    ).toBe(201);
    const big = await f.product();
    const r = await f.admin.post('/v1/stock/receipts', {
      warehouse_id: w,
      lines: [{ product_id: big, quantity: 1e12, unit_cost: 1e12 }],
    });
    expect(r.status).toBe(201);
    const adj = await f.admin.post('/v1/stock/adjustments', {
      warehouse_id: w,
      product_id: big,
      quantity_delta: -1e12,
      reason: 'x'.repeat(1000),
    });
    expect(adj.status).toBe(201);
  });

  it('ignores unknown fields', async () => {
    const res = await f.admin.post('/v1/products', {
      sku: 'EXTRA',
      name: 'n',
      colour: 'red',
      id: randomUUID(),
    });
    expect(res.status).toBe(201);
    expect(res.body.colour).toBeUndefined();
  });

  it('answers 400 with a non-empty errors list for malformed JSON', async () => {
    const res = await request(t.url)
      .post('/v1/reservations')
      .set('x-kv-identity', f.admin.token!)
      .set('content-type', 'application/json')
      .send('{"warehouse_id": ');
    expect(res.status).toBe(400);
    expect(res.body.type).toBe('validation-error');
    expect(res.body.errors.length).toBeGreaterThan(0);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });

  it('answers 400 for malformed query parameters and cursors', async () => {
    for (const q of [
      'limit=0',
      'limit=201',
      'limit=abc',
      'limit=1.5',
      'warehouse_id=nope',
      'cursor=garbage',
      `cursor=${Buffer.from('{"p":"x","w":"y"}').toString('base64url')}`,
    ]) {
      const res = await f.admin.get(`/v1/stock?${q}`);
      expect([q, res.status]).toEqual([q, 400]);
    }
    expect((await f.admin.get('/v1/stock/movements?cursor=abc')).status).toBe(400);
    expect((await f.admin.get('/v1/audit-events?entity_type=spaceship')).status).toBe(400);
  });

  it('answers 404 for a malformed or unknown id in the path, and for unknown ids in a body', async () => {
    for (const path of [
      '/v1/products/not-a-uuid',
      '/v1/reservations/123',
      `/v1/reservations/${randomUUID()}`,
      '/v1/warehouses/%00',
    ]) {
      const res = await f.admin.get(path);
      expect([path, res.status, res.body.type]).toEqual([path, 404, 'not-found']);
    }
    expect((await f.admin.post('/v1/reservations/nope/commit')).status).toBe(404);
    expect((await f.admin.post(`/v1/reservations/${randomUUID()}/release`)).status).toBe(404);
    const unknownProduct = await f.admin.post('/v1/reservations', {
      warehouse_id: w,
      lines: [{ product_id: randomUUID(), quantity: 1 }],
    });
    expect(unknownProduct.status).toBe(404);
    const unknownWarehouse = await f.admin.post('/v1/stock/receipts', {
      warehouse_id: randomUUID(),
      lines: [{ product_id: p, quantity: 1, unit_cost: 1 }],
    });
    expect(unknownWarehouse.status).toBe(404);
    expect((await f.admin.get('/v1/no-such-route')).status).toBe(404);
  });

  it('accepts upper-case uuids as the same ids', async () => {
    const res = await f.admin.post('/v1/reservations', {
      warehouse_id: w.toUpperCase(),
      lines: [
        { product_id: p.toUpperCase(), quantity: 1 },
        { product_id: p, quantity: 1 },
      ],
    });
    expect(res.status).toBe(201);
    expect(res.body.lines).toEqual([{ product_id: p, quantity: 2 }]);
    expect((await f.admin.get(`/v1/reservations/${String(res.body.id).toUpperCase()}`)).status).toBe(200);
    await f.admin.post(`/v1/reservations/${res.body.id}/release`).expect(200);
  });
});

describe('authentication and error precedence', () => {
  it('answers 401 without an identity, with a tampered one, and with a user identity on internal routes', async () => {
    expect((await t.anonymous().get('/v1/products')).status).toBe(401);
    expect((await t.anonymous().post('/v1/reservations', { garbage: true })).status).toBe(401);
    expect((await t.anonymous().get('/v1/no-such-route')).status).toBe(401);
    const tampered = `${f.admin.token!.slice(0, -3)}abc`;
    const res = await request(t.url).get('/v1/products').set('x-kv-identity', tampered);
    expect(res.status).toBe(401);
    expect(res.body.type).toBe('unauthenticated');
    expect((await f.admin.post('/internal/reservations/expire-due')).status).toBe(401);
    expect((await t.anonymous().post('/internal/reservations/expire-due')).status).toBe(401);
  });

  it('checks the permission (403) before the body (400), the body before ids (404), ids before attributes (403), attributes before state (409)', async () => {
    const viewer = t.client({ tenantId: f.tenantId, roles: ['viewer'] });
    const forbidden = await viewer.post('/v1/reservations', { warehouse_id: 'bad' });
    expect([forbidden.status, forbidden.body.type]).toEqual([403, 'forbidden']);
    const clerk = t.client({ tenantId: f.tenantId, roles: ['sales_clerk'] });
    expect(
      (
        await clerk.post('/v1/stock/adjustments', {
          warehouse_id: w,
          product_id: p,
          quantity_delta: 1,
          reason: 'r',
        })
      ).status,
    ).toBe(403);
    const restricted = t.client({
      tenantId: f.tenantId,
      roles: ['inventory_manager'],
      attributes: { warehouse_ids: [w2] },
    });
    expect((await restricted.post('/v1/reservations', { warehouse_id: 'bad', lines: [] })).status).toBe(400);
    expect(
      (
        await restricted.post('/v1/reservations', {
          warehouse_id: w,
          lines: [{ product_id: randomUUID(), quantity: 1 }],
        })
      ).status,
    ).toBe(404);
    const attr = await restricted.post('/v1/reservations', {
      warehouse_id: w,
      lines: [{ product_id: p, quantity: 1e12 }],
    });
    expect([attr.status, attr.body.type]).toEqual([403, 'forbidden']);
    const state = await f.admin.post('/v1/reservations', {
      warehouse_id: w,
      lines: [{ product_id: p, quantity: 1e12 }],
    });
    expect([state.status, state.body.type]).toEqual([409, 'insufficient-stock']);
  });
});
