import { randomUUID } from 'node:crypto';
import { race, sleep, startPrivateRedis, waitFor, type PrivateRedis } from '@kv/testing';
import { closePeriodWithToken, periodLockKey } from '../src/domain/periods';
import {
  asTenant,
  client,
  createAccount,
  entryBody,
  startHarness,
  userIdentity,
  type Harness,
} from './helpers';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('acct_period');
});

afterAll(async () => {
  await h.close();
});

function tenant() {
  const tenantId = randomUUID();
  const userId = randomUUID();
  return { tenantId, userId, c: client(h, userIdentity(h, { tenantId, userId })) };
}

async function accounts(c: ReturnType<typeof client>): Promise<[string, string]> {
  return [await createAccount(c, '1000'), await createAccount(c, '2000', 'liability')];
}

async function entriesIn(tenantId: string, from: string, to: string): Promise<number> {
  return asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{
      rows: { n: number }[];
    }>(`SELECT count(*)::int AS n FROM accounting.journal_entries WHERE date BETWEEN ? AND ?`, [from, to]);
    return r.rows[0]!.n;
  });
}

it('closes a period: later postings dated in it get 409 period-closed, closing again is 200, other periods are unaffected', async () => {
  const { c } = tenant();
  const [a, b] = await accounts(c);
  expect((await c.post('/v1/journal-entries', entryBody(a, b, 10, '2026-02-10'))).status).toBe(201);
  const close = await c.post('/v1/periods/2026-02/close');
  expect(close.status).toBe(200);
  expect(close.body).toEqual({ period: '2026-02', status: 'closed', closed_at: expect.any(String) });
  const late = await c.post('/v1/journal-entries', entryBody(a, b, 10, '2026-02-28'));
  expect(late.status).toBe(409);
  expect(late.body.type).toBe('period-closed');
  const again = await c.post('/v1/periods/2026-02/close');
  expect(again.status).toBe(200);
  expect(again.body).toEqual(close.body);
  expect((await c.post('/v1/journal-entries', entryBody(a, b, 10, '2026-03-01'))).status).toBe(201);
  expect((await c.post('/v1/journal-entries', entryBody(a, b, 10, '2026-01-31'))).status).toBe(201);
  // A reversal dated in the closed period is refused too; dated later it is fine.
  const jan = (await c.get('/v1/journal-entries?from=2026-01-31&to=2026-01-31')).body.data[0];
  expect((await c.post(`/v1/journal-entries/${jan.id}/reverse`, { date: '2026-02-15' })).status).toBe(409);
  expect((await c.post(`/v1/journal-entries/${jan.id}/reverse`, { date: '2026-03-15' })).status).toBe(201);
});

it('answers 400 for a malformed period', async () => {
  const { c } = tenant();
  for (const p of ['2018-13', '2018-00', '2018-1', '201801', 'abcd-ef', '2018-01-01']) {
    const res = await c.post(`/v1/periods/${p}/close`);
    expect({ p, status: res.status, type: res.body.type }).toEqual({
      p,
      status: 400,
      type: 'validation-error',
    });
  }
});

it('races a close with 100 postings dated in the period: no entry in the closed period committed after the close', async () => {
  const { tenantId, c } = tenant();
  const [a, b] = await accounts(c);
  const period = '2026-03';
  let closeReturned = false;
  const postedAfterReturn: number[] = [];
  let answered = 0;
  let tenAnswered: () => void = () => undefined;
  const firstTen = new Promise<void>((r) => (tenAnswered = r));
  let closeDone: () => void = () => undefined;
  const closed = new Promise<void>((r) => (closeDone = r));
  // 80 postings spread over ~300 ms race the close, which starts once 10 of them have answered; the last 20 are
  // sent only after the close returned. Every one is dated inside the period.
  const postings = Array.from({ length: 100 }, async (_, i) => {
    if (i < 80) await sleep(i * 4);
    else await closed;
    const res = await c.post(
      '/v1/journal-entries',
      entryBody(a, b, 1 + i, `2026-03-${String(1 + (i % 28)).padStart(2, '0')}`),
    );
    if (res.status === 201 && closeReturned) postedAfterReturn.push(i);
    if (++answered === 10) tenAnswered();
    return res;
  });
  await firstTen;
  const close = await c.post(`/v1/periods/${period}/close`);
  closeReturned = true;
  closeDone();
  expect(close.status).toBe(200);
  // Counted right after the close returned, and again once every posting has answered: nothing joined later.
  const atReturn = await entriesIn(tenantId, '2026-03-01', '2026-03-31');
  const results = await Promise.all(postings);
  const statuses = results.map((r) => r.status);
  const created = statuses.filter((s) => s === 201).length;
  const refused = results.filter((r) => r.status === 409 && r.body.type === 'period-closed').length;
  expect(created + refused).toBe(100);
  expect(created).toBeGreaterThanOrEqual(10);
  expect(refused).toBeGreaterThanOrEqual(20);
  expect(await entriesIn(tenantId, '2026-03-01', '2026-03-31')).toBe(atReturn);
  expect(atReturn).toBe(created);

  // Commit order, from PostgreSQL itself: the close recorded its snapshot after it had waited for every posting
  // holding the period's lock, inside the transaction that closed it. Every entry of the period must be visible in
  // that snapshot, i.e. committed before the close committed.
  const order = await asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{ rows: { before_close: number; after_close: number }[] }>(
      `SELECT count(*) FILTER (WHERE pg_visible_in_snapshot(e.txid, p.closed_snapshot))::int AS before_close,
              count(*) FILTER (WHERE NOT pg_visible_in_snapshot(e.txid, p.closed_snapshot))::int AS after_close
         FROM accounting.journal_entries e
         JOIN accounting.fiscal_periods p ON p.tenant_id = e.tenant_id AND p.period = to_char(e.date, 'YYYY-MM')
        WHERE p.period = ? AND p.status = 'closed'`,
      [period],
    );
    return r.rows[0]!;
  });
  expect(order).toEqual({ before_close: created, after_close: 0 });

  // The check can tell: an entry committed after the close is not visible in the close's snapshot.
  const later = await c.post('/v1/journal-entries', entryBody(a, b, 5, '2026-04-01'));
  const laterVisible = await asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{ rows: { visible: boolean }[] }>(
      `SELECT pg_visible_in_snapshot(e.txid, p.closed_snapshot) AS visible
         FROM accounting.journal_entries e, accounting.fiscal_periods p WHERE e.id = ? AND p.period = ?`,
      [later.body.id, period],
    );
    return r.rows[0]!.visible;
  });
  expect(laterVisible).toBe(false);
  // A 201 may still be on its way back when the close returns; its entry committed before the close all the same
  // (checked above). What never happens is a posting sent after the close returned being accepted.
  expect(postedAfterReturn.filter((i) => i >= 80)).toEqual([]);
});

it('lets racing closes of one period all answer 200 and close it exactly once', async () => {
  const { tenantId, c } = tenant();
  const results = await race(6, () => c.post('/v1/periods/2026-05/close'));
  expect(results.map((r) => (r.status === 'fulfilled' ? r.value.status : 0))).toEqual([
    200, 200, 200, 200, 200, 200,
  ]);
  const audits = await asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{
      rows: { n: number }[];
    }>(`SELECT count(*)::int AS n FROM accounting.audit_events WHERE action = 'period.close'`);
    return r.rows[0]!.n;
  });
  expect(audits).toBe(1);
});

it('stops a paused closer whose lock expired from closing the period with its stale fencing token', async () => {
  const { tenantId, userId, c } = tenant();
  const [a, b] = await accounts(c);
  const period = '2026-06';
  const key = periodLockKey(tenantId, period);
  const ctx = { tenantId, userId, requestId: 'test' };
  const paused = await h.deps.locks.acquire(key, { ttlMs: 200 });
  expect(paused).not.toBeNull();
  await sleep(400); // the paused holder never renewed: its lease expired
  const successor = await h.deps.locks.acquire(key, { ttlMs: 10_000 });
  expect(successor!.token).toBeGreaterThan(paused!.token);

  // The paused closer wakes up and tries to close with its old token: refused, nothing written.
  await expect(
    h.deps.uow.write(ctx, (trx) =>
      closePeriodWithToken(trx, ctx, period, paused!.token, { postingDrainTimeoutMs: 5_000 }),
    ),
  ).rejects.toMatchObject({ name: 'AppError', code: 'CONFLICT' });
  expect((await c.post('/v1/journal-entries', entryBody(a, b, 5, '2026-06-15'))).status).toBe(201);

  // The current holder closes it.
  const closed = await h.deps.uow.write(ctx, (trx) =>
    closePeriodWithToken(trx, ctx, period, successor!.token, { postingDrainTimeoutMs: 5_000 }),
  );
  expect(closed.status).toBe('closed');
  await successor!.release();
  expect((await c.post('/v1/journal-entries', entryBody(a, b, 5, '2026-06-16'))).status).toBe(409);

  // The database itself never lets the recorded token go back, nor a closed period reopen.
  const row = await asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{
      rows: { t: number }[];
    }>(`SELECT fence_token::int AS t FROM accounting.fiscal_periods WHERE period = ?`, [period]);
    return r.rows[0]!.t;
  });
  expect(row).toBe(successor!.token);
  await expect(
    asTenant(h.appRole, tenantId, (trx) =>
      trx.raw(`UPDATE accounting.fiscal_periods SET fence_token = ? WHERE period = ?`, [
        paused!.token,
        period,
      ]),
    ),
  ).rejects.toMatchObject({ code: 'KVA07' });
  await expect(
    asTenant(h.appRole, tenantId, (trx) =>
      trx.raw(`UPDATE accounting.fiscal_periods SET status = 'open', closed_at = NULL WHERE period = ?`, [
        period,
      ]),
    ),
  ).rejects.toMatchObject({ code: 'KVA03' });
  await expect(
    asTenant(h.appRole, tenantId, (trx) => trx.raw(`DELETE FROM accounting.fiscal_periods`)),
  ).rejects.toMatchObject({
    code: '42501',
  });
  await expect(
    asTenant(h.owner, tenantId, (trx) => trx.raw(`DELETE FROM accounting.fiscal_periods`)),
  ).rejects.toMatchObject({
    code: 'KVA03',
  });
});

it('refuses in the database a posting dated in a closed period, whoever inserts it', async () => {
  const { tenantId, c } = tenant();
  const [a, b] = await accounts(c);
  expect((await c.post('/v1/periods/2026-07/close')).status).toBe(200);
  for (const role of [h.appRole, h.owner]) {
    await expect(
      asTenant(role, tenantId, async (trx) => {
        const id = randomUUID();
        await trx.raw(
          `INSERT INTO accounting.journal_entries (tenant_id, id, date) VALUES (?, ?, '2026-07-04')`,
          [tenantId, id],
        );
        await trx.raw(
          `INSERT INTO accounting.journal_lines (tenant_id, entry_id, line_no, account_id, debit, credit)
           VALUES (?, ?, 1, ?, 5, 0), (?, ?, 2, ?, 0, 5)`,
          [tenantId, id, a, tenantId, id, b],
        );
      }),
    ).rejects.toMatchObject({ code: 'KVA01' });
  }
});

describe('with Redis down', () => {
  let redis: PrivateRedis;
  let hr: Harness;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    hr = await startHarness('acct_period_redis', { REDIS_URL: redis.url });
  });

  afterAll(async () => {
    await hr.close();
    await redis.kill();
  });

  it('answers 503 to a close (safe to retry), keeps posting, reports degraded, and closes once Redis is back', async () => {
    const tenantId = randomUUID();
    const c = client(hr, userIdentity(hr, { tenantId }));
    const a = await createAccount(c, '1000');
    const b = await createAccount(c, '2000', 'liability');
    await redis.kill();
    const close = await c.post('/v1/periods/2026-08/close');
    expect(close.status).toBe(503);
    expect(close.body.type).toBe('unavailable');
    expect((await c.post('/v1/journal-entries', entryBody(a, b, 5, '2026-08-02'))).status).toBe(201);
    const ready = await hr.http().get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.checks.redis.status).toBe('degraded');
    await redis.start();
    await waitFor(async () => (await c.post('/v1/periods/2026-08/close')).status === 200, 15_000, 200);
    expect((await c.post('/v1/journal-entries', entryBody(a, b, 5, '2026-08-03'))).status).toBe(409);
  });
});
