import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { createTestDatabase, race, sleep, type TestDatabase } from '@kv/testing';
import { enableTenantRls, withTenantTransaction } from '@kv/tenant-context';
import { AppError } from '@kv/errors';
import {
  canonicalJson,
  createIdempotencyTable,
  parseIdempotencyKey,
  purgeExpiredKeys,
  withIdempotency,
} from '../src';

let db: TestDatabase;
let owner: Knex;
let app: Knex;
let system: Knex;
const tenant = randomUUID();
const ctx = { tenantId: tenant, userId: null };
const opts = { table: 's.idempotency_keys' };

beforeAll(async () => {
  db = await createTestDatabase('idem');
  owner = knexFactory({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
  await owner.raw('CREATE SCHEMA s');
  await owner.raw('GRANT USAGE ON SCHEMA s TO kv_app, kv_system');
  await createIdempotencyTable(owner, 's', {
    appRole: 'kv_app',
    systemRole: 'kv_system',
    enableRls: enableTenantRls,
  });
  // Idempotent migration: running it again is harmless.
  await createIdempotencyTable(owner, 's', {
    appRole: 'kv_app',
    systemRole: 'kv_system',
    enableRls: enableTenantRls,
  });
  await owner.raw('CREATE TABLE s.effects (tenant_id uuid NOT NULL, id serial PRIMARY KEY, note text)');
  await enableTenantRls(owner, 's.effects');
  await owner.raw('GRANT SELECT, INSERT ON s.effects TO kv_app');
  await owner.raw('GRANT USAGE ON ALL SEQUENCES IN SCHEMA s TO kv_app');
  app = knexFactory({ client: 'pg', connection: db.urls.app, pool: { min: 0, max: 30 } });
  system = knexFactory({ client: 'pg', connection: db.urls.system, pool: { min: 0, max: 2 } });
});

afterAll(async () => {
  await Promise.all([app.destroy(), owner.destroy(), system.destroy()]);
  await db.drop();
});

async function effectCount(note: string): Promise<number> {
  const rows = await withTenantTransaction(
    app,
    (trx) => trx('s.effects').where({ note }).count<{ n: string }[]>('* as n'),
    ctx,
  );
  return Number(rows[0]!.n);
}

function post(key: string | undefined, body: unknown, note: string, delayMs = 0, fail = false) {
  return withTenantTransaction(
    app,
    (trx) =>
      withIdempotency(
        trx,
        { key, tenantId: tenant, method: 'POST', path: '/v1/things', body },
        opts,
        async () => {
          const [row] = await trx('s.effects').insert({ tenant_id: tenant, note }).returning('id');
          if (delayMs) await sleep(delayMs);
          if (fail) throw new AppError('CONFLICT', 'nope');
          return { status: 201, body: { id: (row as { id: number }).id, note } };
        },
      ),
    ctx,
  );
}

describe('withIdempotency', () => {
  it('replays the stored response for the same key and body, changing nothing', async () => {
    const first = await post('k1', { a: 1, b: [1, 2] }, 'once');
    const second = await post('k1', { b: [1, 2], a: 1 }, 'once');
    expect(first.replayed).toBe(false);
    expect(second).toEqual({ status: 201, body: first.body, replayed: true });
    expect(await effectCount('once')).toBe(1);
  });

  it('rejects the same key with a different body (422)', async () => {
    await post('k2', { a: 1 }, 'k2');
    await expect(post('k2', { a: 2 }, 'k2')).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
      status: 422,
    });
    expect(await effectCount('k2')).toBe(1);
  });

  it('applies 20 concurrent same-key requests exactly once, and all see the same response', async () => {
    const results = await race(20, () => post('k3', { x: 'y' }, 'race', 50));
    const ok = results
      .filter((r) => r.status === 'fulfilled')
      .map((r) => (r as PromiseFulfilledResult<{ body: unknown }>).value);
    expect(ok).toHaveLength(20);
    expect(new Set(ok.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect(await effectCount('race')).toBe(1);
  });

  it('does not store failures: a retry after a 4xx is evaluated anew', async () => {
    await expect(post('k4', { v: 1 }, 'fail', 0, true)).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await effectCount('fail')).toBe(0);
    const retry = await post('k4', { v: 1 }, 'fail');
    expect(retry.replayed).toBe(false);
    expect(await effectCount('fail')).toBe(1);
  });

  it('answers 409 in-progress when the first request outlives the wait', async () => {
    const slow = post('k5', {}, 'slow', 800);
    await sleep(100);
    const fast = withTenantTransaction(
      app,
      (trx) =>
        withIdempotency(
          trx,
          { key: 'k5', tenantId: tenant, method: 'POST', path: '/v1/things', body: {} },
          { ...opts, waitMs: 100 },
          () => Promise.resolve({ status: 201, body: {} }),
        ),
      ctx,
    );
    await expect(fast).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_PROGRESS', status: 409 });
    await slow;
    expect(await effectCount('slow')).toBe(1);
  });

  it('scopes keys by tenant and path', async () => {
    await post('k6', {}, 'scoped');
    const otherTenant = randomUUID();
    const r = await withTenantTransaction(
      app,
      (trx) =>
        withIdempotency(
          trx,
          { key: 'k6', tenantId: otherTenant, method: 'POST', path: '/v1/things', body: {} },
          opts,
          () => Promise.resolve({ status: 201, body: { other: true } }),
        ),
      { tenantId: otherTenant, userId: null },
    );
    expect(r.replayed).toBe(false);
  });

  it('runs without a key', async () => {
    await post(undefined, {}, 'nokey');
    await post(undefined, {}, 'nokey');
    expect(await effectCount('nokey')).toBe(2);
  });

  it('validates the header and canonicalizes JSON', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey('a')).toBe('a');
    expect(() => parseIdempotencyKey('')).toThrow(AppError);
    expect(() => parseIdempotencyKey('x'.repeat(256))).toThrow(AppError);
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe('{"a":{"c":3,"d":2},"b":1}');
  });

  it('purges old keys across tenants with the system role', async () => {
    await withTenantTransaction(
      app,
      (trx) =>
        trx('s.idempotency_keys')
          .update({ created_at: trx.raw(`now() - interval '3 days'`) })
          .where({ key: 'k1' }),
      ctx,
    );
    expect(await purgeExpiredKeys(system, 's', 48)).toBe(1);
  });
});
