import { randomUUID } from 'node:crypto';
import { race } from '@kv/testing';
import {
  asTenant,
  balanceCheck,
  client,
  createAccount,
  entryBody,
  ledgerCounts,
  serviceIdentity,
  startHarness,
  userIdentity,
  type Harness,
} from './helpers';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('acct_ledger');
});

afterAll(async () => {
  await h.close();
});

const tenants = new WeakMap<object, string>();

function newTenant(roles = ['accountant'], attributes = {}) {
  const tenantId = randomUUID();
  const c = client(h, userIdentity(h, { tenantId, roles, attributes }));
  tenants.set(c, tenantId);
  return { tenantId, c };
}

function tenantOf(c: object): string {
  return tenants.get(c)!;
}

describe('accounts', () => {
  it('creates an account and shows it with a zero balance', async () => {
    const { c } = newTenant();
    const res = await c.post('/v1/accounts', { code: '1000', name: 'Cash', type: 'asset' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ code: '1000', name: 'Cash', type: 'asset', system: false });
    const got = await c.get(`/v1/accounts/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.balance).toEqual({ debit: 0, credit: 0, net: 0 });
  });

  it('gives every tenant the system accounts 1300, 2100, 5000 and 6100 the first time it is seen, once', async () => {
    const { c } = newTenant();
    const first = await race(10, () => c.get('/v1/accounts'));
    expect(first.every((r) => r.status === 'fulfilled' && r.value.status === 200)).toBe(true);
    const res = await c.get('/v1/accounts');
    const system = (res.body.data as { code: string; name: string; type: string; system: boolean }[]).filter(
      (a) => a.system,
    );
    expect(system.map((a) => [a.code, a.name, a.type])).toEqual([
      ['1300', 'Inventory', 'asset'],
      ['2100', 'Goods received not invoiced', 'liability'],
      ['5000', 'Cost of goods sold', 'expense'],
      ['6100', 'Inventory adjustments', 'expense'],
    ]);
    const auditor = client(h, userIdentity(h, { tenantId: tenantOf(c), roles: ['auditor'] }));
    const created = (await auditor.get('/v1/audit-events?entity_type=account&limit=200')).body.data as {
      actor_id: string | null;
      entity_id: string;
    }[];
    expect(
      created
        .filter((e) => e.actor_id === null)
        .map((e) => e.entity_id)
        .sort(),
    ).toEqual(system.map((a) => (a as unknown as { id: string }).id).sort());
  });

  it('refuses a duplicate code in the same tenant with 409 and allows it in another tenant', async () => {
    const a = newTenant();
    const b = newTenant();
    await createAccount(a.c, '4000', 'revenue');
    const dup = await a.c.post('/v1/accounts', { code: '4000', name: 'Again', type: 'revenue' });
    expect(dup.status).toBe(409);
    expect(dup.body.type).toBe('conflict');
    expect(dup.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(
      (await b.c.post('/v1/accounts', { code: '4000', name: 'Other tenant', type: 'revenue' })).status,
    ).toBe(201);
  });

  it('lists accounts by code with cursor pagination', async () => {
    const { c } = newTenant();
    for (const code of ['A1', 'A2', 'A3']) await createAccount(c, code);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await c.get(`/v1/accounts?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...(res.body.data as { code: string }[]).map((a) => a.code));
      cursor = res.body.next_cursor as string | null;
    } while (cursor);
    expect(seen).toEqual(['1300', '2100', '5000', '6100', 'A1', 'A2', 'A3']);
    expect((await c.get('/v1/accounts?type=expense')).body.data.map((a: { code: string }) => a.code)).toEqual(
      ['5000', '6100'],
    );
    expect((await c.get('/v1/accounts?limit=0')).status).toBe(400);
    expect((await c.get('/v1/accounts?limit=201')).status).toBe(400);
    expect((await c.get('/v1/accounts?cursor=nonsense')).status).toBe(400);
    expect((await c.get('/v1/accounts?type=cash')).status).toBe(400);
  });

  it('answers 404 for an unknown or malformed account id', async () => {
    const { c } = newTenant();
    expect((await c.get(`/v1/accounts/${randomUUID()}`)).status).toBe(404);
    const bad = await c.get('/v1/accounts/not-a-uuid');
    expect(bad.status).toBe(404);
    expect(bad.body.type).toBe('not-found');
  });

  it('validates account bodies', async () => {
    const { c } = newTenant();
    for (const body of [
      {},
      { code: 'X', name: 'X' },
      { code: 'X', name: 'X', type: 'cash' },
      { code: 'x'.repeat(65), name: 'X', type: 'asset' },
      { code: 'X', name: 'a\u0000b', type: 'asset' },
      { code: '', name: 'X', type: 'asset' },
      { code: 5, name: 'X', type: 'asset' },
    ]) {
      const res = await c.post('/v1/accounts', body);
      expect(res.status).toBe(400);
      expect(res.body.type).toBe('validation-error');
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
  });
});

describe('journal entries', () => {
  it('posts a balanced entry: 201 with increasing numbers, exact balances and a balanced trial balance', async () => {
    const { c } = newTenant();
    const cash = await createAccount(c, '1000');
    const sales = await createAccount(c, '4000', 'revenue');
    const first = await c.post(
      '/v1/journal-entries',
      entryBody(cash, sales, 12_345, '2026-01-10', 'first sale'),
    );
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      date: '2026-01-10',
      memo: 'first sale',
      status: 'posted',
      source: null,
      reversal_of: null,
      lines: [
        { account_id: cash, debit: 12_345, credit: 0 },
        { account_id: sales, debit: 0, credit: 12_345 },
      ],
    });
    const second = await c.post('/v1/journal-entries', entryBody(cash, sales, 5, '2026-01-11'));
    expect(second.status).toBe(201);
    expect(second.body.number).toBeGreaterThan(first.body.number);
    expect(second.body.memo).toBeNull();
    expect((await c.get(`/v1/accounts/${cash}`)).body.balance).toEqual({
      debit: 12_350,
      credit: 0,
      net: 12_350,
    });
    expect((await c.get(`/v1/accounts/${sales}`)).body.balance).toEqual({
      debit: 0,
      credit: 12_350,
      net: -12_350,
    });
    const tb = await c.get('/v1/trial-balance');
    expect(tb.status).toBe(200);
    expect(tb.body.total_debit).toBe(12_350);
    expect(tb.body.total_credit).toBe(12_350);
    const got = await c.get(`/v1/journal-entries/${first.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(first.body);
  });

  it('rejects invalid entries with 4xx and writes nothing', async () => {
    const { tenantId, c } = newTenant();
    const a = await createAccount(c, '1000');
    const b = await createAccount(c, '2000', 'liability');
    const other = newTenant();
    const foreign = await createAccount(other.c, '9999');
    const before = await ledgerCounts(h, tenantId);
    const line = (account_id: string, debit: unknown, credit: unknown) => ({ account_id, debit, credit });
    const cases: [string, unknown, number, string][] = [
      [
        'unbalanced',
        { date: '2026-01-05', lines: [line(a, 100, 0), line(b, 0, 99)] },
        422,
        'unbalanced-entry',
      ],
      ['one line', { date: '2026-01-05', lines: [line(a, 100, 0)] }, 400, 'validation-error'],
      ['no lines', { date: '2026-01-05', lines: [] }, 400, 'validation-error'],
      [
        'both sides',
        { date: '2026-01-05', lines: [line(a, 100, 100), line(b, 100, 100)] },
        400,
        'validation-error',
      ],
      [
        'neither side',
        { date: '2026-01-05', lines: [line(a, 0, 0), line(b, 0, 0)] },
        400,
        'validation-error',
      ],
      [
        'negative',
        { date: '2026-01-05', lines: [line(a, -100, 0), line(b, 0, -100)] },
        400,
        'validation-error',
      ],
      [
        'non-integer',
        { date: '2026-01-05', lines: [line(a, 10.5, 0), line(b, 0, 10.5)] },
        400,
        'validation-error',
      ],
      [
        '"5" strings',
        { date: '2026-01-05', lines: [line(a, '5', 0), line(b, 0, '5')] },
        400,
        'validation-error',
      ],
      [
        'over 10^12',
        { date: '2026-01-05', lines: [line(a, 1e12 + 1, 0), line(b, 0, 1e12 + 1)] },
        400,
        'validation-error',
      ],
      [
        'missing credit',
        { date: '2026-01-05', lines: [{ account_id: a, debit: 5 }, line(b, 0, 5)] },
        400,
        'validation-error',
      ],
      ['bad date', { date: '2026-02-30', lines: [line(a, 5, 0), line(b, 0, 5)] }, 400, 'validation-error'],
      ['date format', { date: '05/01/2026', lines: [line(a, 5, 0), line(b, 0, 5)] }, 400, 'validation-error'],
      [
        'memo over 1000',
        { date: '2026-01-05', memo: 'm'.repeat(1001), lines: [line(a, 5, 0), line(b, 0, 5)] },
        400,
        'validation-error',
      ],
      ['lines not an array', { date: '2026-01-05', lines: 'x' }, 400, 'validation-error'],
      [
        'malformed account id',
        { date: '2026-01-05', lines: [line('nope', 5, 0), line(b, 0, 5)] },
        400,
        'validation-error',
      ],
      [
        'unknown account',
        { date: '2026-01-05', lines: [line(randomUUID(), 5, 0), line(b, 0, 5)] },
        404,
        'not-found',
      ],
      [
        "another tenant's account",
        { date: '2026-01-05', lines: [line(foreign, 5, 0), line(b, 0, 5)] },
        404,
        'not-found',
      ],
      [
        'unbalanced with an unknown account',
        { date: '2026-01-05', lines: [line(randomUUID(), 5, 0), line(b, 0, 4)] },
        404,
        'not-found',
      ],
    ];
    for (const [name, body, status, type] of cases) {
      const res = await c.post('/v1/journal-entries', body);
      expect({ name, status: res.status, type: res.body.type }).toEqual({ name, status, type });
      if (status === 400) expect(res.body.errors.length).toBeGreaterThan(0);
    }
    const malformed = await h
      .http()
      .post('/v1/journal-entries')
      .set('x-kv-identity', userIdentity(h, { tenantId }))
      .set('content-type', 'application/json')
      .send('{"date": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors.length).toBeGreaterThan(0);
    const huge = await c.post('/v1/journal-entries', {
      date: '2026-01-05',
      memo: 'x'.repeat(1_100_000),
      lines: [],
    });
    expect(huge.status).toBe(413);
    expect(await ledgerCounts(h, tenantId)).toEqual(before);
  });

  it('refuses, in the database itself, unbalanced or one-line entries and any change to posted lines, as kv_app and as the owner', async () => {
    const { tenantId, c } = newTenant();
    const a = await createAccount(c, '1000');
    const b = await createAccount(c, '2000', 'liability');
    const posted = await c.post('/v1/journal-entries', entryBody(a, b, 100));
    expect(posted.status).toBe(201);
    const insertEntry = async (role: 'app' | 'owner', lines: [string, number, number][]) =>
      asTenant(role === 'app' ? h.appRole : h.owner, tenantId, async (trx) => {
        const id = randomUUID();
        await trx.raw(
          `INSERT INTO accounting.journal_entries (tenant_id, id, date) VALUES (?, ?, '2026-01-20')`,
          [tenantId, id],
        );
        let n = 1;
        for (const [account, debit, credit] of lines) {
          await trx.raw(
            `INSERT INTO accounting.journal_lines (tenant_id, entry_id, line_no, account_id, debit, credit) VALUES (?, ?, ?, ?, ?, ?)`,
            [tenantId, id, n++, account, debit, credit],
          );
        }
      });
    for (const role of ['app', 'owner'] as const) {
      await expect(
        insertEntry(role, [
          [a, 100, 0],
          [b, 0, 99],
        ]),
      ).rejects.toMatchObject({ code: 'KVA02' });
      await expect(insertEntry(role, [[a, 100, 0]])).rejects.toMatchObject({ code: 'KVA02' });
      await expect(insertEntry(role, [])).rejects.toMatchObject({ code: 'KVA02' });
      await expect(
        insertEntry(role, [
          [a, 100, 100],
          [b, 100, 100],
        ]),
      ).rejects.toMatchObject({ code: '23514' });
      await expect(
        insertEntry(role, [
          [a, -5, 0],
          [b, 0, -5],
        ]),
      ).rejects.toMatchObject({ code: '23514' });
      // Appending a balanced pair to an already posted entry would change it.
      await expect(
        asTenant(role === 'app' ? h.appRole : h.owner, tenantId, (trx) =>
          trx.raw(
            `INSERT INTO accounting.journal_lines (tenant_id, entry_id, line_no, account_id, debit, credit)
             VALUES (?, ?, 10, ?, 7, 0), (?, ?, 11, ?, 0, 7)`,
            [tenantId, posted.body.id, a, tenantId, posted.body.id, b],
          ),
        ),
      ).rejects.toMatchObject({ code: 'KVA03' });
    }
    const change = (role: 'app' | 'owner', sql: string) =>
      asTenant(role === 'app' ? h.appRole : h.owner, tenantId, (trx) => trx.raw(sql));
    for (const sql of [
      'UPDATE accounting.journal_lines SET debit = debit + 1',
      'DELETE FROM accounting.journal_lines',
      `UPDATE accounting.journal_entries SET memo = 'changed'`,
      'DELETE FROM accounting.journal_entries',
      'UPDATE accounting.account_balances SET debit = 0',
    ]) {
      await expect(change('app', sql)).rejects.toMatchObject({ code: '42501' });
    }
    for (const sql of [
      'UPDATE accounting.journal_lines SET debit = debit + 1',
      'DELETE FROM accounting.journal_lines',
      `UPDATE accounting.journal_entries SET memo = 'changed'`,
      'DELETE FROM accounting.journal_entries',
      'TRUNCATE accounting.journal_lines CASCADE',
      'DELETE FROM accounting.accounts',
    ]) {
      await expect(change('owner', sql)).rejects.toMatchObject({ code: 'KVA03' });
    }
    expect(await ledgerCounts(h, tenantId)).toMatchObject({ entries: 1, lines: 2 });
    expect((await c.get(`/v1/journal-entries/${posted.body.id}`)).body).toEqual(posted.body);
    const check = await balanceCheck(h, tenantId);
    expect(check).toEqual({
      lineDebit: 100,
      lineCredit: 100,
      slotDebit: 100,
      slotCredit: 100,
      mismatchedAccounts: 0,
    });
  });

  it('lists entries newest first with from/to/account_id filters and cursor pagination', async () => {
    const { c } = newTenant();
    const a = await createAccount(c, '1000');
    const b = await createAccount(c, '2000', 'liability');
    const x = await createAccount(c, '3000', 'equity');
    const ids: string[] = [];
    for (const [debit, credit, date] of [
      [a, b, '2026-01-01'],
      [a, x, '2026-01-15'],
      [b, x, '2026-02-01'],
      [a, b, '2026-02-15'],
      [a, b, '2026-03-01'],
    ] as const) {
      ids.push((await c.post('/v1/journal-entries', entryBody(debit, credit, 10, date))).body.id as string);
    }
    const all = await c.get('/v1/journal-entries');
    expect(all.status).toBe(200);
    expect(all.body.data.map((e: { id: string }) => e.id)).toEqual([...ids].reverse());
    const range = await c.get('/v1/journal-entries?from=2026-01-15&to=2026-02-15');
    expect(range.body.data.map((e: { date: string }) => e.date)).toEqual([
      '2026-02-15',
      '2026-02-01',
      '2026-01-15',
    ]);
    const byAccount = await c.get(`/v1/journal-entries?account_id=${x}`);
    expect(byAccount.body.data.map((e: { id: string }) => e.id)).toEqual([ids[2], ids[1]]);
    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await c.get(`/v1/journal-entries?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(...res.body.data.map((e: { id: string }) => e.id));
      cursor = res.body.next_cursor as string | null;
    } while (cursor);
    expect(pages).toEqual([...ids].reverse());
    expect((await c.get('/v1/journal-entries?from=2026-13-01')).status).toBe(400);
    expect((await c.get('/v1/journal-entries?from=2026-03-01&to=2026-01-01')).status).toBe(400);
    expect((await c.get('/v1/journal-entries?account_id=nope')).status).toBe(400);
    expect((await c.get(`/v1/journal-entries?account_id=${randomUUID()}`)).status).toBe(404);
    expect((await c.get(`/v1/journal-entries/${randomUUID()}`)).status).toBe(404);
    expect((await c.get('/v1/journal-entries/12')).status).toBe(404);
  });

  it('reverses an entry once: a second reversal, reversing a reversal and racing reversals give 409', async () => {
    const { c } = newTenant();
    const a = await createAccount(c, '1000');
    const b = await createAccount(c, '2000', 'liability');
    const original = (await c.post('/v1/journal-entries', entryBody(a, b, 700, '2026-01-05'))).body;
    const rev = await c.post(`/v1/journal-entries/${original.id}/reverse`, { date: '2026-01-31' });
    expect(rev.status).toBe(201);
    expect(rev.body).toMatchObject({
      date: '2026-01-31',
      reversal_of: original.id,
      source: null,
      lines: [
        { account_id: a, debit: 0, credit: 700 },
        { account_id: b, debit: 700, credit: 0 },
      ],
    });
    expect((await c.get(`/v1/journal-entries/${original.id}`)).body.reversed_by).toBe(rev.body.id);
    expect((await c.get(`/v1/accounts/${a}`)).body.balance).toEqual({ debit: 700, credit: 700, net: 0 });
    const again = await c.post(`/v1/journal-entries/${original.id}/reverse`, {});
    expect(again.status).toBe(409);
    expect(again.body.type).toBe('conflict');
    const ofReversal = await c.post(`/v1/journal-entries/${rev.body.id}/reverse`);
    expect(ofReversal.status).toBe(409);
    expect((await c.post(`/v1/journal-entries/${randomUUID()}/reverse`, {})).status).toBe(404);
    expect((await c.post(`/v1/journal-entries/${original.id}/reverse`, { date: '2026-02-31' })).status).toBe(
      400,
    );

    const other = (await c.post('/v1/journal-entries', entryBody(a, b, 50, '2026-01-06'))).body;
    const racing = await race(10, () => c.post(`/v1/journal-entries/${other.id}/reverse`, {}));
    const statuses = racing.map((r) => (r.status === 'fulfilled' ? r.value.status : 0)).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(9);
    const today = new Date().toISOString().slice(0, 10);
    const winner = racing.find((r) => r.status === 'fulfilled' && r.value.status === 201);
    expect(winner?.status === 'fulfilled' && winner.value.body.date).toBe(today);
  });

  it('replays an idempotent post with Idempotent-Replayed and applies it once, even when the retries race', async () => {
    const { tenantId, c } = newTenant();
    const a = await createAccount(c, '1000');
    const b = await createAccount(c, '2000', 'liability');
    const key = { 'Idempotency-Key': `key-${randomUUID()}` };
    const first = await c.post('/v1/journal-entries', entryBody(a, b, 10), key);
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const replay = await c.post('/v1/journal-entries', entryBody(a, b, 10), key);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(first.body);
    const reused = await c.post('/v1/journal-entries', entryBody(a, b, 11), key);
    expect(reused.status).toBe(422);
    expect(reused.body.type).toBe('idempotency-key-reused');

    const raceKey = { 'Idempotency-Key': `race-${randomUUID()}` };
    const results = await race(10, () => c.post('/v1/journal-entries', entryBody(a, b, 3), raceKey));
    const ok = results.filter((r) => r.status === 'fulfilled' && r.value.status === 201);
    expect(ok).toHaveLength(10);
    expect(new Set(ok.map((r) => r.status === 'fulfilled' && r.value.body.id)).size).toBe(1);
    expect((await ledgerCounts(h, tenantId)).entries).toBe(2);

    // A 4xx is not stored: the same key with a valid body is evaluated anew.
    const failKey = { 'Idempotency-Key': `fail-${randomUUID()}` };
    expect((await c.post('/v1/journal-entries', entryBody(a, randomUUID(), 10), failKey)).status).toBe(404);
    expect((await c.post('/v1/journal-entries', entryBody(a, b, 10), failKey)).status).toBe(201);
    expect(
      (await c.post('/v1/journal-entries', entryBody(a, b, 10), { 'Idempotency-Key': 'k'.repeat(256) }))
        .status,
    ).toBe(400);
    expect((await c.post('/v1/accounts', { code: 'I1', name: 'I', type: 'asset' }, key)).status).toBe(201);
  });

  it('enforces approval_limit on the total debit, after 400 and 404', async () => {
    const { tenantId, c } = newTenant();
    const a = await createAccount(c, '1000');
    const b = await createAccount(c, '2000', 'liability');
    const limited = client(h, userIdentity(h, { tenantId, attributes: { approval_limit: 1000 } }));
    expect((await limited.post('/v1/journal-entries', entryBody(a, b, 1000))).status).toBe(201);
    const over = await limited.post('/v1/journal-entries', entryBody(a, b, 1001));
    expect(over.status).toBe(403);
    expect(over.body.type).toBe('approval-limit-exceeded');
    const split = await limited.post('/v1/journal-entries', {
      date: '2026-01-05',
      lines: [
        { account_id: a, debit: 600, credit: 0 },
        { account_id: a, debit: 600, credit: 0 },
        { account_id: b, debit: 0, credit: 1200 },
      ],
    });
    expect(split.status).toBe(403);
    expect((await limited.post('/v1/journal-entries', entryBody(a, randomUUID(), 5000))).status).toBe(404);
    expect((await limited.post('/v1/journal-entries', { ...entryBody(a, b, 5000), date: 'x' })).status).toBe(
      400,
    );
    const big = (await c.post('/v1/journal-entries', entryBody(a, b, 5000))).body;
    expect((await limited.post(`/v1/journal-entries/${big.id}/reverse`, {})).status).toBe(403);
    expect((await c.post(`/v1/journal-entries/${big.id}/reverse`, {})).status).toBe(201);
  });

  it('computes the trial balance as of a date, each line on one side, totals equal', async () => {
    const { c } = newTenant();
    const cash = await createAccount(c, '1000');
    const sales = await createAccount(c, '4000', 'revenue');
    const cost = await createAccount(c, '5100', 'expense');
    await c.post('/v1/journal-entries', entryBody(cash, sales, 1000, '2026-01-10'));
    await c.post('/v1/journal-entries', entryBody(cost, cash, 300, '2026-01-20'));
    await c.post('/v1/journal-entries', entryBody(cash, sales, 50, '2026-02-10'));
    const jan = await c.get('/v1/trial-balance?as_of=2026-01-31');
    expect(jan.status).toBe(200);
    expect(jan.body).toEqual({
      as_of: '2026-01-31',
      lines: [
        { account_id: cash, code: '1000', name: 'Account 1000', debit: 700, credit: 0 },
        { account_id: sales, code: '4000', name: 'Account 4000', debit: 0, credit: 1000 },
        { account_id: cost, code: '5100', name: 'Account 5100', debit: 300, credit: 0 },
      ],
      total_debit: 1000,
      total_credit: 1000,
    });
    const early = await c.get('/v1/trial-balance?as_of=2026-01-15');
    expect(early.body.lines).toHaveLength(2);
    expect(early.body.total_debit).toBe(1000);
    const now = await c.get('/v1/trial-balance');
    expect(now.body.total_debit).toBe(1050);
    expect(now.body.total_credit).toBe(1050);
    expect((await c.get('/v1/trial-balance?as_of=2026-1-1')).status).toBe(400);
  });

  it('audits accounts, entries and periods, readable with audit:read only', async () => {
    const { tenantId, c } = newTenant();
    const a = await createAccount(c, '1000');
    const b = await createAccount(c, '2000', 'liability');
    const entry = (await c.post('/v1/journal-entries', entryBody(a, b, 42, '2026-01-05'))).body;
    await c.post(`/v1/journal-entries/${entry.id}/reverse`, { date: '2026-01-06' });
    expect((await c.post('/v1/periods/2025-12/close')).status).toBe(200);
    const auditor = client(h, userIdentity(h, { tenantId, roles: ['auditor'] }));
    const all = await auditor.get('/v1/audit-events?limit=200');
    expect(all.status).toBe(200);
    const actions = (all.body.data as { action: string }[]).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'account.create',
        'journal_entry.post',
        'journal_entry.post_reversal',
        'journal_entry.reverse',
        'period.close',
      ]),
    );
    const forEntry = await auditor.get(`/v1/audit-events?entity_type=journal_entry&entity_id=${entry.id}`);
    expect(forEntry.body.data.map((e: { action: string }) => e.action).sort()).toEqual([
      'journal_entry.post',
      'journal_entry.reverse',
    ]);
    expect(forEntry.body.data[0]).toMatchObject({
      entity_type: 'journal_entry',
      entity_id: entry.id,
      request_id: expect.any(String),
    });
    const period = await auditor.get('/v1/audit-events?entity_type=period&entity_id=2025-12');
    expect(period.body.data).toHaveLength(1);
    const page1 = await auditor.get('/v1/audit-events?limit=2');
    expect(page1.body.next_cursor).toEqual(expect.any(String));
    const page2 = await auditor.get(`/v1/audit-events?limit=2&cursor=${page1.body.next_cursor}`);
    expect(page2.body.data[0].id).not.toBe(page1.body.data[0].id);
    expect((await auditor.get('/v1/audit-events?entity_type=warehouse')).status).toBe(400);
    expect((await c.get('/v1/audit-events')).status).toBe(403);
  });
});

describe('authentication and permissions', () => {
  it('answers 401 without a valid identity, before anything else', async () => {
    expect((await h.http().get('/v1/accounts')).status).toBe(401);
    const malformed = await h
      .http()
      .post('/v1/journal-entries')
      .set('content-type', 'application/json')
      .send('{');
    expect(malformed.status).toBe(401);
    expect(malformed.body.type).toBe('unauthenticated');
    const tampered = `${userIdentity(h, { tenantId: randomUUID() }).slice(0, -4)}AAAA`;
    expect((await h.http().get('/v1/accounts').set('x-kv-identity', tampered)).status).toBe(401);
  });

  it('answers 403 for a missing permission before validating the body', async () => {
    const tenantId = randomUUID();
    const viewer = client(h, userIdentity(h, { tenantId, roles: ['viewer'] }));
    const clerk = client(h, userIdentity(h, { tenantId, roles: ['sales_clerk'] }));
    const accountant = client(h, userIdentity(h, { tenantId }));
    const a = await createAccount(accountant, '1000');
    const b = await createAccount(accountant, '2000', 'liability');
    const entry = (await accountant.post('/v1/journal-entries', entryBody(a, b, 5))).body;
    expect((await viewer.get('/v1/accounts')).status).toBe(200);
    expect((await viewer.get('/v1/trial-balance')).status).toBe(200);
    for (const [path, body] of [
      ['/v1/accounts', { code: 'V', name: 'V', type: 'asset' }],
      ['/v1/journal-entries', entryBody(a, b, 5)],
      [`/v1/journal-entries/${entry.id}/reverse`, {}],
      ['/v1/periods/2026-01/close', undefined],
    ] as const) {
      const res = await viewer.post(path, body);
      expect({ path, status: res.status, type: res.body.type }).toEqual({
        path,
        status: 403,
        type: 'forbidden',
      });
    }
    const bad = await h
      .http()
      .post('/v1/journal-entries')
      .set('x-kv-identity', userIdentity(h, { tenantId, roles: ['viewer'] }))
      .set('content-type', 'application/json')
      .send('{');
    expect(bad.status).toBe(403);
    expect((await clerk.get('/v1/accounts')).status).toBe(403);
    const closer = client(h, userIdentity(h, { tenantId, roles: [], permissions: ['accounting:post'] }));
    expect((await closer.post('/v1/periods/2026-01/close')).status).toBe(403);
    expect((await closer.post('/v1/journal-entries', entryBody(a, b, 5))).status).toBe(201);
  });

  it('keeps /internal for service identities', async () => {
    const tenantId = randomUUID();
    const user = userIdentity(h, { tenantId, roles: ['admin'] });
    const res = await h.http().post('/internal/events/stock-movement').set('x-kv-identity', user).send({});
    expect(res.status).toBe(401);
    const svc = await h
      .http()
      .post('/internal/events/stock-movement')
      .set('x-kv-identity', serviceIdentity(h, tenantId))
      .send({});
    expect(svc.status).toBe(400);
  });
});

describe('operations', () => {
  it('serves health, readiness and metrics without authentication', async () => {
    expect((await h.http().get('/health/live')).body).toEqual({ status: 'ok' });
    const ready = await h.http().get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('healthy');
    expect(Object.keys(ready.body.checks)).toEqual(expect.arrayContaining(['database', 'redis', 'locks']));
    const metrics = await h.http().get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('http_request_duration_seconds');
    expect(metrics.text).toContain('accounting_journal_entries_posted_total');
    const rid = await h.http().get('/health/live').set('x-request-id', 'abc-123');
    expect(rid.headers['x-request-id']).toBe('abc-123');
  });

  it('answers unknown routes with a problem 404', async () => {
    const res = await client(h, userIdentity(h, { tenantId: randomUUID() })).get('/v1/nope');
    expect(res.status).toBe(404);
    expect(res.body.type).toBe('not-found');
  });
});
