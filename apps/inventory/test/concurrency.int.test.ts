import { race } from '@kv/testing';
import { checkInvariants, ownerQuery, startTestApp, tenantFixture, type TestApp } from './helpers';

const LONG = Boolean(process.env.CI || process.env.LONG_TESTS);
const MIXED_TRAFFIC_MS = LONG ? 20_000 : 5_000;

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp('concurrency', { poolMax: 10 });
});
afterAll(async () => {
  await t.close();
});

const statusesOf = (results: PromiseSettledResult<{ status: number; body: { type?: string } }>[]) =>
  results.map((r) => (r.status === 'fulfilled' ? r.value.status : -1));

describe('no oversell under concurrent reservations', () => {
  it('100 units, 10 concurrent reservations of 10: all 10 succeed, available 0, reserved 100', async () => {
    const f = tenantFixture(t);
    const w = await f.warehouse();
    const p = await f.product();
    await f.receive(w, p, 100);
    const results = await race(10, () =>
      f.admin.post('/v1/reservations', { warehouse_id: w, lines: [{ product_id: p, quantity: 10 }] }),
    );
    expect(statusesOf(results).filter((s) => s === 201)).toHaveLength(10);
    expect(await f.stock(p, w)).toMatchObject({ on_hand: 100, reserved: 100, available: 0 });
  });

  it('50 units, 10 concurrent reservations of 10: exactly 5 succeed and the rest get insufficient-stock', async () => {
    const f = tenantFixture(t);
    const w = await f.warehouse();
    const p = await f.product();
    await f.receive(w, p, 50);
    const results = await race(10, () =>
      f.admin.post('/v1/reservations', { warehouse_id: w, lines: [{ product_id: p, quantity: 10 }] }),
    );
    const statuses = statusesOf(results);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 409)).toHaveLength(5);
    for (const r of results)
      if (r.status === 'fulfilled' && r.value.status === 409)
        expect(r.value.body.type).toBe('insufficient-stock');
    expect(await f.stock(p, w)).toMatchObject({ on_hand: 50, reserved: 50, available: 0 });
  });

  it('500 concurrent 1-unit reservations for 50 units: exactly 50 succeed, 450 get 409 insufficient-stock', async () => {
    const f = tenantFixture(t);
    const w = await f.warehouse();
    const p = await f.product();
    await f.receive(w, p, 50);
    const results = await race(500, () =>
      f.admin.post('/v1/reservations', { warehouse_id: w, lines: [{ product_id: p, quantity: 1 }] }),
    );
    const statuses = statusesOf(results);
    expect(statuses.filter((s) => s === 201)).toHaveLength(50);
    expect(statuses.filter((s) => s === 409)).toHaveLength(450);
    const types = new Set(
      results.map((r) => (r.status === 'fulfilled' && r.value.status === 409 ? r.value.body.type : 'ok')),
    );
    expect([...types].sort()).toEqual(['insufficient-stock', 'ok']);
    expect(await f.stock(p, w)).toMatchObject({ on_hand: 50, reserved: 50, available: 0 });
    const [count] = await ownerQuery<{ n: string }>(
      t,
      f.tenantId,
      `SELECT count(*) AS n FROM inventory.reservations`,
    );
    expect(Number(count!.n)).toBe(50);
  }, 120_000);
});

describe('opposite transfers', () => {
  it('races A→B against B→A 200 times without a deadlock, and conserves the totals', async () => {
    const f = tenantFixture(t);
    const a = await f.warehouse();
    const b = await f.warehouse();
    const products = [await f.product(), await f.product(), await f.product()];
    for (const p of products) {
      await f.receive(a, p, 1000, 10);
      await f.receive(b, p, 1000, 20);
    }
    const results = await race(200, (i) => {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      // Lines in varying order, several products: the service must still lock in a fixed order.
      const lines = (i % 3 === 0 ? [...products].reverse() : products).map((p, k) => ({
        product_id: p,
        quantity: 1 + ((i + k) % 5),
      }));
      return f.admin.post('/v1/stock/transfers', { from_warehouse_id: from, to_warehouse_id: to, lines });
    });
    const statuses = statusesOf(results);
    expect(statuses.filter((s) => s !== 201 && s !== 409)).toEqual([]);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(150);
    for (const p of products) {
      const [sa, sb] = [await f.stock(p, a), await f.stock(p, b)];
      expect(sa.on_hand + sb.on_hand).toBe(2000);
    }
    expect(await checkInvariants(t, f.tenantId)).toEqual({ badRanges: 0, ledgerMismatches: 0 });
  }, 120_000);
});

describe('mixed traffic', () => {
  it(`keeps every invariant under random reserve/commit/release/adjust/transfer/expire traffic from 64 clients (${MIXED_TRAFFIC_MS} ms)`, async () => {
    const f = tenantFixture(t);
    const warehouses = [await f.warehouse(), await f.warehouse(), await f.warehouse()];
    const products: string[] = [];
    for (let i = 0; i < 6; i++) products.push(await f.product());
    for (const w of warehouses)
      for (const p of products) await f.receive(w, p, 200, 100 + products.indexOf(p));
    const service = t.client({
      tenantId: '00000000-0000-0000-0000-000000000000',
      userId: null,
      roles: [],
      permissions: [],
      kind: 'service',
    });

    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
    const qty = () => 1 + Math.floor(Math.random() * 8);
    const reservations: string[] = [];
    const statusCounts = new Map<string, number>();
    const unexpected: string[] = [];
    const note = (op: string, res: { status: number; body: unknown }, allowed: number[]) => {
      const key = `${op} ${res.status}`;
      statusCounts.set(key, (statusCounts.get(key) ?? 0) + 1);
      if (!allowed.includes(res.status)) unexpected.push(`${key} ${JSON.stringify(res.body)}`);
    };

    const deadline = Date.now() + MIXED_TRAFFIC_MS;
    const clientLoop = async () => {
      while (Date.now() < deadline) {
        const roll = Math.random();
        if (roll < 0.4) {
          const w = pick(warehouses);
          const lines = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => ({
            product_id: pick(products),
            quantity: qty(),
          }));
          const ttl = Math.random() < 0.2 ? 1 : 300;
          const res = await f.admin.post('/v1/reservations', { warehouse_id: w, lines, ttl_seconds: ttl });
          note('reserve', res, [201, 409]);
          if (res.status === 201) reservations.push(res.body.id);
        } else if (roll < 0.6 && reservations.length > 0) {
          note('commit', await f.admin.post(`/v1/reservations/${pick(reservations)}/commit`), [200, 409]);
        } else if (roll < 0.75 && reservations.length > 0) {
          note('release', await f.admin.post(`/v1/reservations/${pick(reservations)}/release`), [200, 409]);
        } else if (roll < 0.85) {
          const delta = Math.random() < 0.5 ? qty() : -qty();
          const res = await f.admin.post('/v1/stock/adjustments', {
            warehouse_id: pick(warehouses),
            product_id: pick(products),
            quantity_delta: delta,
            reason: 'cycle count',
          });
          note('adjust', res, [201, 409]);
        } else if (roll < 0.97) {
          const from = pick(warehouses);
          const to = pick(warehouses.filter((w) => w !== from));
          const lines = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => ({
            product_id: pick(products),
            quantity: qty(),
          }));
          note(
            'transfer',
            await f.admin.post('/v1/stock/transfers', {
              from_warehouse_id: from,
              to_warehouse_id: to,
              lines,
            }),
            [201, 409],
          );
        } else {
          note('expire', await service.post('/internal/reservations/expire-due'), [200]);
        }
      }
    };
    await Promise.all(Array.from({ length: 64 }, clientLoop));
    await new Promise((r) => setTimeout(r, 1100));
    await service.post('/internal/reservations/expire-due').expect(200);

    expect(unexpected).toEqual([]);
    expect(statusCounts.get('reserve 201') ?? 0).toBeGreaterThan(10);
    expect(statusCounts.get('commit 200') ?? 0).toBeGreaterThan(0);
    expect(await checkInvariants(t, f.tenantId)).toEqual({ badRanges: 0, ledgerMismatches: 0 });

    // reserved = Σ quantities of still-active reservations, per (product, warehouse)
    const reservedMismatch = await ownerQuery<{ product_id: string }>(
      t,
      f.tenantId,
      `SELECT s.product_id FROM inventory.stock_levels s
         LEFT JOIN (SELECT l.product_id, r.warehouse_id, sum(l.quantity) AS q
                      FROM inventory.reservations r JOIN inventory.reservation_lines l ON l.reservation_id = r.id
                     WHERE r.status = 'active' GROUP BY 1, 2) a
           ON a.product_id = s.product_id AND a.warehouse_id = s.warehouse_id
        WHERE s.reserved <> COALESCE(a.q, 0)`,
    );
    expect(reservedMismatch).toEqual([]);

    // each reservation changed state at most once, and exactly once iff it is no longer active; a committed
    // one has one shipment per line, any other none
    const perReservation = await ownerQuery<{
      id: string;
      status: string;
      closes: string;
      lines: string;
      shipments: string;
    }>(
      t,
      f.tenantId,
      `SELECT r.id, r.status,
              (SELECT count(*) FROM inventory.audit_events e WHERE e.entity_type = 'reservation' AND e.entity_id = r.id::text
                  AND e.action IN ('reservation.commit', 'reservation.release', 'reservation.expire')) AS closes,
              (SELECT count(*) FROM inventory.reservation_lines l WHERE l.reservation_id = r.id) AS lines,
              (SELECT count(*) FROM inventory.stock_movements m WHERE m.document_id = r.id AND m.type = 'shipment') AS shipments
         FROM inventory.reservations r`,
    );
    expect(perReservation.length).toBe(reservations.length);
    const wrong = perReservation.filter(
      (r) =>
        Number(r.closes) !== (r.status === 'active' ? 0 : 1) ||
        Number(r.shipments) !== (r.status === 'committed' ? Number(r.lines) : 0),
    );
    expect(wrong).toEqual([]);
    expect(perReservation.some((r) => r.status === 'expired')).toBe(true);
  }, 180_000);
});
