import { randomUUID } from 'node:crypto';
import { race } from '@kv/testing';
import { asTenant, client, serviceIdentity, startHarness, userIdentity, type Harness } from './helpers';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('acct_events');
});

afterAll(async () => {
  await h.close();
});

type MovementType = 'receipt' | 'shipment' | 'adjustment' | 'transfer_in' | 'transfer_out';

function movement(
  tenantId: string,
  type: MovementType,
  quantity: number,
  unitCost: number,
  occurredAt = '2026-01-20T10:00:00.000Z',
) {
  const id = randomUUID();
  return {
    event_id: id,
    payload: {
      movement_id: id,
      tenant_id: tenantId,
      type,
      product_id: randomUUID(),
      warehouse_id: randomUUID(),
      quantity,
      unit_cost: unitCost,
      value: Math.abs(quantity) * unitCost,
      occurred_at: occurredAt,
      reference: 'PO-1',
    },
  };
}

function deliver(tenantId: string, body: unknown) {
  return h
    .http()
    .post('/internal/events/stock-movement')
    .set('x-kv-identity', serviceIdentity(h, tenantId))
    .send(body as object);
}

async function systemAccounts(tenantId: string): Promise<Record<string, string>> {
  const res = await client(h, userIdentity(h, { tenantId })).get('/v1/accounts');
  return Object.fromEntries((res.body.data as { code: string; id: string }[]).map((a) => [a.code, a.id]));
}

async function entry(tenantId: string, id: string) {
  const res = await client(h, userIdentity(h, { tenantId })).get(`/v1/journal-entries/${id}`);
  expect(res.status).toBe(200);
  return res.body as {
    date: string;
    lines: { account_id: string; debit: number; credit: number }[];
    source: unknown;
  };
}

it('posts exactly one entry when the same event is delivered 5 times at once', async () => {
  const tenantId = randomUUID();
  const event = movement(tenantId, 'receipt', 10, 250);
  const results = await race(5, () => deliver(tenantId, event));
  const bodies = results.map((r) =>
    r.status === 'fulfilled' ? { status: r.value.status, ...r.value.body } : { status: 0 },
  );
  expect(bodies.every((b) => b.status === 200)).toBe(true);
  const ids = new Set(bodies.map((b) => (b as { entry_id: string }).entry_id));
  expect(ids.size).toBe(1);
  expect(bodies.filter((b) => (b as { duplicate: boolean }).duplicate === false)).toHaveLength(1);
  const count = await asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{ rows: { entries: number; events: number }[] }>(
      `SELECT (SELECT count(*) FROM accounting.journal_entries)::int AS entries,
              (SELECT count(*) FROM accounting.processed_events)::int AS events`,
    );
    return r.rows[0]!;
  });
  expect(count).toEqual({ entries: 1, events: 1 });
  // A later redelivery answers the same entry.
  const again = await deliver(tenantId, event);
  expect(again.body).toEqual({ entry_id: [...ids][0], duplicate: true });
});

it('posts each movement type by the contract rules, with source stock_movement', async () => {
  const tenantId = randomUUID();
  const cases: [string, ReturnType<typeof movement>, string | null, string | null, number][] = [
    ['receipt', movement(tenantId, 'receipt', 10, 250), '1300', '2100', 2500],
    ['shipment', movement(tenantId, 'shipment', -4, 300), '5000', '1300', 1200],
    ['adjustment gain', movement(tenantId, 'adjustment', 3, 100), '1300', '6100', 300],
    ['adjustment loss', movement(tenantId, 'adjustment', -2, 100), '6100', '1300', 200],
    ['transfer out', movement(tenantId, 'transfer_out', -5, 300), null, null, 0],
    ['transfer in', movement(tenantId, 'transfer_in', 5, 300), null, null, 0],
    ['worth 0', movement(tenantId, 'receipt', 7, 0), null, null, 0],
  ];
  for (const [name, event, debit, credit, amount] of cases) {
    const res = await deliver(tenantId, event);
    expect({ name, status: res.status, duplicate: res.body.duplicate }).toEqual({
      name,
      status: 200,
      duplicate: false,
    });
    if (debit === null) {
      expect({ name, entry_id: res.body.entry_id }).toEqual({ name, entry_id: null });
      continue;
    }
    const accounts = await systemAccounts(tenantId);
    const e = await entry(tenantId, res.body.entry_id);
    expect({ name, date: e.date, lines: e.lines, source: e.source }).toEqual({
      name,
      date: '2026-01-20',
      lines: [
        { account_id: accounts[debit], debit: amount, credit: 0 },
        { account_id: accounts[credit!], debit: 0, credit: amount },
      ],
      source: { type: 'stock_movement', id: event.payload.movement_id },
    });
  }
  const tb = await client(h, userIdentity(h, { tenantId })).get('/v1/trial-balance');
  expect(tb.body.total_debit).toBe(tb.body.total_credit);
  // Inventory 1300: 2500 - 1200 + 300 - 200.
  const accounts = await systemAccounts(tenantId);
  expect(tb.body.lines.find((l: { account_id: string }) => l.account_id === accounts['1300'])).toMatchObject({
    debit: 1400,
    credit: 0,
  });
  // A redelivered movement that posts nothing stays a no-op.
  expect((await deliver(tenantId, cases[4]![1])).body).toEqual({ entry_id: null, duplicate: true });
});

it("dates an entry on the movement's UTC date, or the first day of the next open period when that one is closed", async () => {
  const tenantId = randomUUID();
  const utc = await deliver(tenantId, movement(tenantId, 'receipt', 1, 10, '2026-03-31T23:30:00-02:00'));
  expect((await entry(tenantId, utc.body.entry_id)).date).toBe('2026-04-01');
  const accountant = client(h, userIdentity(h, { tenantId }));
  expect((await accountant.post('/v1/periods/2026-09/close')).status).toBe(200);
  expect((await accountant.post('/v1/periods/2026-10/close')).status).toBe(200);
  const late = await deliver(tenantId, movement(tenantId, 'shipment', -1, 10, '2026-09-15T12:00:00Z'));
  expect(late.status).toBe(200);
  expect((await entry(tenantId, late.body.entry_id)).date).toBe('2026-11-01');
  const december = await deliver(tenantId, movement(tenantId, 'receipt', 1, 10, '2026-12-31T22:00:00Z'));
  expect((await entry(tenantId, december.body.entry_id)).date).toBe('2026-12-31');
});

it('never posts an event into a period closed while it was being posted: it lands before the close or in the next period', async () => {
  const tenantId = randomUUID();
  const accountant = client(h, userIdentity(h, { tenantId }));
  await deliver(tenantId, movement(tenantId, 'receipt', 1, 1, '2026-04-01T00:00:00Z'));
  const events = Array.from({ length: 30 }, (_, i) =>
    movement(tenantId, 'receipt', 1, 10 + i, `2026-05-${String(1 + (i % 28)).padStart(2, '0')}T08:00:00Z`),
  );
  const deliveries = events.map(async (e, i) => {
    await new Promise((r) => setTimeout(r, i * 3));
    return deliver(tenantId, e);
  });
  await new Promise((r) => setTimeout(r, 40));
  expect((await accountant.post('/v1/periods/2026-05/close')).status).toBe(200);
  const results = await Promise.all(deliveries);
  expect(results.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
  const rows = await asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{ rows: { date: string; before_close: boolean }[] }>(
      `SELECT to_char(e.date, 'YYYY-MM-DD') AS date, pg_visible_in_snapshot(e.txid, p.closed_snapshot) AS before_close
         FROM accounting.journal_entries e JOIN accounting.fiscal_periods p ON p.tenant_id = e.tenant_id AND p.period = '2026-05'
        WHERE e.source_type = 'stock_movement' AND e.date >= '2026-05-01'`,
    );
    return r.rows;
  });
  expect(rows).toHaveLength(30);
  for (const row of rows) {
    if (row.date.startsWith('2026-05')) expect(row.before_close).toBe(true);
    else expect(row.date).toBe('2026-06-01');
  }
});

it('creates the system accounts when a tenant is first seen through an event', async () => {
  const tenantId = randomUUID();
  const res = await deliver(tenantId, movement(tenantId, 'receipt', 2, 5));
  expect(res.status).toBe(200);
  expect(Object.keys(await systemAccounts(tenantId)).sort()).toEqual(['1300', '2100', '5000', '6100']);
});

it('accepts only service identities for the same tenant, and valid bodies', async () => {
  const tenantId = randomUUID();
  const event = movement(tenantId, 'receipt', 1, 1);
  expect((await h.http().post('/internal/events/stock-movement').send(event)).status).toBe(401);
  const asUser = await h
    .http()
    .post('/internal/events/stock-movement')
    .set('x-kv-identity', userIdentity(h, { tenantId, roles: ['admin'] }))
    .send(event);
  expect(asUser.status).toBe(401);
  const otherTenant = await deliver(randomUUID(), event);
  expect(otherTenant.status).toBe(400);
  for (const broken of [
    { ...event, event_id: 'x' },
    { ...event, payload: { ...event.payload, value: '5' } },
    { ...event, payload: { ...event.payload, quantity: 1.5 } },
    { ...event, payload: { ...event.payload, type: 'theft' } },
    { ...event, payload: { ...event.payload, occurred_at: 'yesterday' } },
    { event_id: event.event_id },
  ]) {
    const res = await deliver(tenantId, broken);
    expect(res.status).toBe(400);
  }
  const count = await asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{ rows: { n: number }[] }>(
      `SELECT count(*)::int AS n FROM accounting.processed_events`,
    );
    return r.rows[0]!.n;
  });
  expect(count).toBe(0);
});
