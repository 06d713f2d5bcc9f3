import { randomUUID } from 'node:crypto';
import { race } from '@kv/testing';
import {
  asTenant,
  balanceCheck,
  client,
  createAccount,
  entryBody,
  startHarness,
  userIdentity,
  type Harness,
} from './helpers';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('acct_hot');
});

afterAll(async () => {
  await h.close();
});

function tenant() {
  const tenantId = randomUUID();
  return { tenantId, c: client(h, userIdentity(h, { tenantId })) };
}

async function slotRows(tenantId: string, accountId: string): Promise<number> {
  return asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{
      rows: { n: number }[];
    }>(`SELECT count(*)::int AS n FROM accounting.account_balances WHERE account_id = ?`, [accountId]);
    return r.rows[0]!.n;
  });
}

it('posts 200 concurrent balanced entries on the same two accounts: all posted, balances equal the lines, trial balance balanced', async () => {
  const { tenantId, c } = tenant();
  const cash = await createAccount(c, '1000');
  const sales = await createAccount(c, '4000', 'revenue');
  const amounts = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7919) % 10_000));
  const results = await race(200, (i) => c.post('/v1/journal-entries', entryBody(cash, sales, amounts[i]!)));
  const statuses = results.map((r) => (r.status === 'fulfilled' ? r.value.status : String(r.reason)));
  expect(statuses.filter((s) => s === 201)).toHaveLength(200);
  const numbers = results.map((r) => (r.status === 'fulfilled' ? (r.value.body.number as number) : 0));
  expect(new Set(numbers).size).toBe(200);

  const total = amounts.reduce((s, a) => s + a, 0);
  expect((await c.get(`/v1/accounts/${cash}`)).body.balance).toEqual({ debit: total, credit: 0, net: total });
  expect((await c.get(`/v1/accounts/${sales}`)).body.balance).toEqual({
    debit: 0,
    credit: total,
    net: -total,
  });
  const tb = await c.get('/v1/trial-balance');
  expect(tb.body.total_debit).toBe(total);
  expect(tb.body.total_credit).toBe(total);
  expect(await balanceCheck(h, tenantId)).toEqual({
    lineDebit: total,
    lineCredit: total,
    slotDebit: total,
    slotCredit: total,
    mismatchedAccounts: 0,
  });
  // The postings were spread over several balance rows instead of queueing on one.
  expect(await slotRows(tenantId, cash)).toBeGreaterThan(1);
});

it('loses no account balance update when many postings change one account at once (the seed "account balance updates" case)', async () => {
  const { tenantId, c } = tenant();
  const hot = await createAccount(c, '1300-H');
  const others = await Promise.all(
    ['2000', '2001', '2002', '2003'].map((code) => createAccount(c, code, 'liability')),
  );
  // Debits and credits to the hot account, against different counter-accounts, all at once.
  const results = await race(120, (i) => {
    const other = others[i % others.length]!;
    const amount = 100 + i;
    return i % 3 === 0
      ? c.post('/v1/journal-entries', entryBody(other, hot, amount))
      : c.post('/v1/journal-entries', entryBody(hot, other, amount));
  });
  expect(results.every((r) => r.status === 'fulfilled' && r.value.status === 201)).toBe(true);
  let debit = 0;
  let credit = 0;
  for (let i = 0; i < 120; i++) {
    if (i % 3 === 0) credit += 100 + i;
    else debit += 100 + i;
  }
  expect((await c.get(`/v1/accounts/${hot}`)).body.balance).toEqual({ debit, credit, net: debit - credit });
  expect((await balanceCheck(h, tenantId)).mismatchedAccounts).toBe(0);
});

it('does not deadlock when concurrent entries touch the same accounts in different orders', async () => {
  const { tenantId, c } = tenant();
  const [a, b, x] = [await createAccount(c, 'A'), await createAccount(c, 'B'), await createAccount(c, 'C')];
  const shapes = [
    [a, b, x],
    [x, b, a],
    [b, a, x],
    [x, a, b],
  ];
  const results = await race(80, (i) => {
    const [p, q, r] = shapes[i % shapes.length]!;
    return c.post('/v1/journal-entries', {
      date: '2026-01-15',
      lines: [
        { account_id: p, debit: 30, credit: 0 },
        { account_id: q, debit: 0, credit: 10 },
        { account_id: r, debit: 0, credit: 20 },
      ],
    });
  });
  expect(
    results.map((r) => (r.status === 'fulfilled' ? r.value.status : 0)).filter((s) => s !== 201),
  ).toEqual([]);
  const check = await balanceCheck(h, tenantId);
  expect(check.lineDebit).toBe(80 * 30);
  expect(check.slotDebit).toBe(check.lineDebit);
  expect(check.slotCredit).toBe(check.lineCredit);
  expect(check.mismatchedAccounts).toBe(0);
});

it('keeps balances exact when one entry hits the same account on several lines', async () => {
  const { c } = tenant();
  const a = await createAccount(c, '1000');
  const b = await createAccount(c, '2000', 'liability');
  const res = await c.post('/v1/journal-entries', {
    date: '2026-01-15',
    lines: [
      { account_id: a, debit: 10, credit: 0 },
      { account_id: a, debit: 0, credit: 4 },
      { account_id: a, debit: 5, credit: 0 },
      { account_id: b, debit: 0, credit: 11 },
    ],
  });
  expect(res.status).toBe(201);
  expect((await c.get(`/v1/accounts/${a}`)).body.balance).toEqual({ debit: 15, credit: 4, net: 11 });
});
