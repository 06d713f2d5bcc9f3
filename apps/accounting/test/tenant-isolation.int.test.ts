import { randomUUID } from 'node:crypto';
import {
  asTenant,
  client,
  createAccount,
  entryBody,
  serviceIdentity,
  startHarness,
  userIdentity,
  type Harness,
} from './helpers';

let h: Harness;
const A = randomUUID();
const B = randomUUID();
let a: ReturnType<typeof client>;
let b: ReturnType<typeof client>;
let auditorB: ReturnType<typeof client>;
const ids = { cashA: '', salesA: '', entryA: '', cashB: '', salesB: '' };

beforeAll(async () => {
  h = await startHarness('acct_tenants');
  a = client(h, userIdentity(h, { tenantId: A }));
  b = client(h, userIdentity(h, { tenantId: B }));
  auditorB = client(h, userIdentity(h, { tenantId: B, roles: ['auditor'] }));
  ids.cashA = await createAccount(a, '1000');
  ids.salesA = await createAccount(a, '4000', 'revenue');
  ids.cashB = await createAccount(b, '1000');
  ids.salesB = await createAccount(b, '4000', 'revenue');
  ids.entryA = (await a.post('/v1/journal-entries', entryBody(ids.cashA, ids.salesA, 900, '2026-01-10'))).body
    .id as string;
});

afterAll(async () => {
  await h.close();
});

describe("another tenant's resources are 404 and invisible on every route", () => {
  it('GET /v1/accounts/:id and GET /v1/accounts', async () => {
    expect((await b.get(`/v1/accounts/${ids.cashA}`)).status).toBe(404);
    const list = (await b.get('/v1/accounts?limit=200')).body.data as { id: string }[];
    expect(list.map((x) => x.id)).not.toContain(ids.cashA);
    expect(list.map((x) => x.id)).toContain(ids.cashB);
  });

  it('POST /v1/accounts: the same code exists per tenant', async () => {
    expect((await b.post('/v1/accounts', { code: '4001', name: 'x', type: 'revenue' })).status).toBe(201);
    expect((await a.post('/v1/accounts', { code: '4001', name: 'x', type: 'revenue' })).status).toBe(201);
  });

  it("GET /v1/journal-entries/:id, GET /v1/journal-entries (also filtered by another tenant's account)", async () => {
    expect((await b.get(`/v1/journal-entries/${ids.entryA}`)).status).toBe(404);
    expect((await b.get('/v1/journal-entries')).body.data.map((e: { id: string }) => e.id)).not.toContain(
      ids.entryA,
    );
    expect((await b.get(`/v1/journal-entries?account_id=${ids.cashA}`)).status).toBe(404);
  });

  it("POST /v1/journal-entries with another tenant's account and POST /v1/journal-entries/:id/reverse", async () => {
    const mixed = await b.post('/v1/journal-entries', entryBody(ids.cashB, ids.salesA, 5));
    expect(mixed.status).toBe(404);
    expect((await b.post(`/v1/journal-entries/${ids.entryA}/reverse`, {})).status).toBe(404);
    expect((await a.get(`/v1/journal-entries/${ids.entryA}`)).body.reversed_by).toBeNull();
  });

  it('GET /v1/trial-balance', async () => {
    expect(
      (await b.post('/v1/journal-entries', entryBody(ids.cashB, ids.salesB, 7, '2026-01-10'))).status,
    ).toBe(201);
    const tb = await b.get('/v1/trial-balance');
    expect(tb.body.total_debit).toBe(7);
    expect(tb.body.lines.map((l: { account_id: string }) => l.account_id).sort()).toEqual(
      [ids.cashB, ids.salesB].sort(),
    );
  });

  it('POST /v1/periods/:period/close only closes the caller tenant', async () => {
    expect((await a.post('/v1/periods/2026-02/close')).status).toBe(200);
    expect(
      (await b.post('/v1/journal-entries', entryBody(ids.cashB, ids.salesB, 7, '2026-02-10'))).status,
    ).toBe(201);
    expect(
      (await a.post('/v1/journal-entries', entryBody(ids.cashA, ids.salesA, 7, '2026-02-10'))).status,
    ).toBe(409);
  });

  it('GET /v1/audit-events', async () => {
    const events = (await auditorB.get('/v1/audit-events?limit=200')).body.data as { entity_id: string }[];
    expect(events.map((e) => e.entity_id)).not.toContain(ids.entryA);
    expect(events.map((e) => e.entity_id)).not.toContain('2026-02');
    expect(
      (await auditorB.get(`/v1/audit-events?entity_type=journal_entry&entity_id=${ids.entryA}`)).body.data,
    ).toEqual([]);
  });

  it('Idempotency-Key: the same key in two tenants is two requests', async () => {
    const key = { 'Idempotency-Key': 'shared-key' };
    const ra = await a.post('/v1/journal-entries', entryBody(ids.cashA, ids.salesA, 3, '2026-03-03'), key);
    const rb = await b.post('/v1/journal-entries', entryBody(ids.cashB, ids.salesB, 3, '2026-03-03'), key);
    expect([ra.status, rb.status]).toEqual([201, 201]);
    expect(rb.headers['idempotent-replayed']).toBeUndefined();
    expect(rb.body.id).not.toBe(ra.body.id);
  });

  it('POST /internal/events/stock-movement: the same event id in two tenants is two events', async () => {
    const eventId = randomUUID();
    const body = (tenantId: string) => ({
      event_id: eventId,
      payload: {
        movement_id: eventId,
        tenant_id: tenantId,
        type: 'receipt',
        product_id: randomUUID(),
        warehouse_id: randomUUID(),
        quantity: 1,
        unit_cost: 10,
        value: 10,
        occurred_at: '2026-03-05T00:00:00Z',
        reference: null,
      },
    });
    const ra = await h
      .http()
      .post('/internal/events/stock-movement')
      .set('x-kv-identity', serviceIdentity(h, A))
      .send(body(A));
    const rb = await h
      .http()
      .post('/internal/events/stock-movement')
      .set('x-kv-identity', serviceIdentity(h, B))
      .send(body(B));
    expect([ra.body.duplicate, rb.body.duplicate]).toEqual([false, false]);
    expect(ra.body.entry_id).not.toBe(rb.body.entry_id);
  });
});

describe('row-level security in PostgreSQL', () => {
  const tables = [
    'accounts',
    'account_balances',
    'journal_entries',
    'journal_lines',
    'fiscal_periods',
    'processed_events',
    'idempotency_keys',
    'audit_events',
    'outbox',
  ];

  it('shows nothing to an unfiltered query without a tenant, and only the current tenant with one, as kv_app and as the owner', async () => {
    for (const role of [h.appRole, h.owner]) {
      for (const table of tables) {
        const none = await role.raw<{ rows: { n: number }[] }>(
          `SELECT count(*)::int AS n FROM accounting.${table}`,
        );
        expect({ table, n: none.rows[0]!.n }).toEqual({ table, n: 0 });
        const seen = await asTenant(role, A, async (trx) => {
          const r = await trx.raw<{
            rows: { tenants: number; own: boolean | null }[];
          }>(
            `SELECT count(DISTINCT tenant_id)::int AS tenants, bool_and(tenant_id = ?) AS own FROM accounting.${table}`,
            [A],
          );
          return r.rows[0]!;
        });
        expect({ table, tenants: seen.tenants <= 1, own: seen.own !== false }).toEqual({
          table,
          tenants: true,
          own: true,
        });
      }
    }
    const accounts = await asTenant(h.appRole, A, async (trx) => {
      const r = await trx.raw<{ rows: { n: number }[] }>(
        `SELECT count(*)::int AS n FROM accounting.accounts`,
      );
      return r.rows[0]!.n;
    });
    expect(accounts).toBeGreaterThan(0);
  });

  it("refuses to write a row for another tenant than the transaction's", async () => {
    for (const role of [h.appRole, h.owner]) {
      await expect(
        asTenant(role, A, (trx) =>
          trx.raw(
            `INSERT INTO accounting.accounts (tenant_id, code, name, type) VALUES (?, 'X9', 'x', 'asset')`,
            [B],
          ),
        ),
      ).rejects.toMatchObject({ code: '42501' });
    }
  });

  it("refuses the posting function another tenant than the transaction's, and finds no foreign accounts", async () => {
    const call = (k: typeof h.appRole, tenant: string, accounts: string[]) =>
      k.raw<{ rows: unknown[] }>(
        `SELECT * FROM accounting.post_entry(?::uuid, NULL, gen_random_uuid(), '2026-01-20', NULL, NULL, NULL, NULL,
                                              ?::uuid[], ARRAY[5, 0]::bigint[], ARRAY[0, 5]::bigint[], '[]'::jsonb)`,
        [tenant, accounts],
      );
    // Inside a transaction scoped to A, posting as B is refused.
    await expect(
      asTenant(h.appRole, A, (trx) => call(trx as unknown as typeof h.appRole, B, [ids.cashB, ids.salesB])),
    ).rejects.toMatchObject({
      code: '42501',
    });
    // On its own (autocommit), posting as B with A's accounts writes nothing: they do not exist for B.
    const before = (await b.get('/v1/trial-balance')).body.total_debit as number;
    const cashA = (await a.get(`/v1/accounts/${ids.cashA}`)).body.balance.debit as number;
    expect((await call(h.appRole, B, [ids.cashA, ids.salesA])).rows).toEqual([]);
    expect((await b.get('/v1/trial-balance')).body.total_debit).toBe(before);
    expect((await a.get(`/v1/accounts/${ids.cashA}`)).body.balance.debit).toBe(cashA);
  });

  it('gives the request role no way to bypass row-level security', async () => {
    const r = await h.appRole.raw<{ rows: { rolsuper: boolean; rolbypassrls: boolean; owned: number }[] }>(
      `SELECT rolsuper, rolbypassrls, (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'accounting' AND tableowner = current_user) AS owned
         FROM pg_roles WHERE rolname = current_user`,
    );
    expect(r.rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, owned: 0 });
    const forced = await h.owner.raw<{ rows: { n: number }[] }>(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'accounting' AND c.relkind = 'r' AND c.relname <> ALL(?) AND NOT (c.relrowsecurity AND c.relforcerowsecurity)`,
      [['knex_migrations', 'knex_migrations_lock', 'lock_fencing']],
    );
    expect(forced.rows[0]!.n).toBe(0);
  });
});
