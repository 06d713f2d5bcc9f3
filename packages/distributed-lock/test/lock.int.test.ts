import { randomUUID } from 'node:crypto';
import { AppError, isAppError } from '@kv/errors';
import {
  createTestDatabase,
  DEFAULT_REDIS_URL,
  deleteKeys,
  race,
  sleep,
  startPrivateRedis,
  uniquePrefix,
  waitFor,
  type PrivateRedis,
  type TestDatabase,
} from '@kv/testing';
import Redis from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import {
  assertFenced,
  createFencingTable,
  createLockManager,
  fencedUpdate,
  LeaseLostError,
  lockKey,
  LockNotAcquiredError,
  StaleLeaseError,
  type Lease,
  type LockManager,
  type LockManagerOptions,
} from '../src';

const SCHEMA = 'locks';
const PERIODS = `${SCHEMA}.periods`;

let db: TestDatabase;
let owner: Knex;
let app: Knex;
let redis: Redis;
let prefix: string;
let locks: LockManager;
let priv: PrivateRedis | undefined;
const extraClients: Redis[] = [];
const warnings: string[] = [];
const logger = { warn: (message: string) => void warnings.push(message) };

function manager(overrides: Partial<LockManagerOptions> = {}): LockManager {
  return createLockManager({
    redis,
    knex: app,
    schema: SCHEMA,
    prefix,
    defaultTtlMs: 5_000,
    retry: { delayMs: 20, jitterMs: 10 },
    logger,
    ...overrides,
  });
}

/** A client for the private Redis that fails fast while it is down and reconnects quickly. */
async function privateClient(url: string): Promise<Redis> {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 50,
  });
  client.on('error', () => undefined);
  extraClients.push(client);
  await waitFor(() => client.status === 'ready', 5_000, 10);
  return client;
}

async function privateRedis(): Promise<PrivateRedis> {
  priv ??= await startPrivateRedis();
  await priv.start();
  return priv;
}

const tenant = () => randomUUID();

beforeAll(async () => {
  db = await createTestDatabase('distributed_lock');
  owner = knexFactory({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
  await owner.raw('CREATE SCHEMA ??', [SCHEMA]);
  await createFencingTable(owner, SCHEMA, { grantTo: 'kv_app' });
  await createFencingTable(owner, SCHEMA, { grantTo: ['kv_app'] }); // idempotent
  await owner.raw(`CREATE TABLE ${PERIODS} (
    tenant_id uuid NOT NULL, period text NOT NULL, status text NOT NULL DEFAULT 'open',
    fence_token bigint NOT NULL DEFAULT 0, PRIMARY KEY (tenant_id, period))`);
  await owner.raw(`GRANT SELECT, INSERT, UPDATE ON ${PERIODS} TO kv_app`);
  // The manager takes tokens as the request role, proving the grants suffice.
  app = knexFactory({ client: 'pg', connection: db.urls.app, pool: { min: 0, max: 10 } });
  redis = new Redis(DEFAULT_REDIS_URL, { maxRetriesPerRequest: 1 });
  prefix = uniquePrefix('lock');
  locks = manager();
});

afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
  for (const c of extraClients) c.disconnect();
  await priv?.kill();
  await app?.destroy();
  await owner?.destroy();
  await db?.drop();
});

function held(lease: Lease | null): Lease {
  if (!lease) throw new Error('expected a lease');
  return lease;
}

describe('seed lock behaviour', () => {
  it('acquires a free lock', async () => {
    const key = lockKey(tenant(), 'period-close', '2026-01');
    const lease = held(await locks.acquire(key, { ttlMs: 2_000 }));
    expect(lease.key).toBe(key);
    expect(lease.token).toBe(1);
    expect(lease.expiresAt).toBeGreaterThan(Date.now());
    expect(lease.expiresAt).toBeLessThanOrEqual(Date.now() + 2_000);
    expect(lease.signal.aborted).toBe(false);
    expect(await redis.pttl(prefix + key)).toBeGreaterThan(1_000);
    expect(await lease.release()).toBe(true);
  });

  it('returns null/false when the lock is held', async () => {
    const key = lockKey(tenant(), 'period-close', '2026-01');
    const first = held(await locks.acquire(key));
    expect(await locks.acquire(key, { waitMs: 0 })).toBeNull();
    const started = Date.now();
    expect(await locks.acquire(key, { waitMs: 300 })).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await first.release();
  });

  it('acquires again after release', async () => {
    const key = lockKey(tenant(), 'nightly');
    const first = held(await locks.acquire(key));
    expect(await first.release()).toBe(true);
    expect(await first.release()).toBe(false);
    const second = held(await locks.acquire(key, { waitMs: 0 }));
    expect(second.token).toBeGreaterThan(first.token);
    await second.release();
  });

  it('auto-expires: a lease that is never released frees the lock after its TTL', async () => {
    const key = lockKey(tenant(), 'nightly');
    const abandoned = held(await locks.acquire(key, { ttlMs: 200 }));
    expect(await locks.acquire(key, { waitMs: 0 })).toBeNull();
    await sleep(300);
    expect(abandoned.signal.aborted).toBe(true);
    expect(abandoned.signal.reason).toBeInstanceOf(LeaseLostError);
    const next = held(await locks.acquire(key, { waitMs: 0 }));
    expect(next.token).toBeGreaterThan(abandoned.token);
    await next.release();
  });

  it('executes a function with the lock and releases it afterwards', async () => {
    const key = lockKey(tenant(), 'report');
    const result = await locks.withLock(key, { ttlMs: 2_000 }, async (lease) => {
      expect(await redis.exists(prefix + key)).toBe(1);
      expect(await locks.acquire(key, { waitMs: 0 })).toBeNull();
      return `done with token ${lease.token}`;
    });
    expect(result).toBe('done with token 1');
    expect(await redis.exists(prefix + key)).toBe(0);
  });

  it('tenant-aware keys: tenant A and tenant B same-named locks do not contend', async () => {
    const [a, b] = [tenant(), tenant()];
    const keyA = lockKey(a, 'period-close', '2026-01');
    const keyB = lockKey(b, 'period-close', '2026-01');
    expect(keyA).toBe(`lock:{${a}}:period-close:2026-01`);
    const leaseA = held(await locks.acquire(keyA, { waitMs: 0 }));
    const leaseB = held(await locks.acquire(keyB, { waitMs: 0 }));
    // Fencing tokens are per key, so each tenant's counter starts at 1.
    expect([leaseA.token, leaseB.token]).toEqual([1, 1]);
    expect(await locks.acquire(keyA, { waitMs: 0 })).toBeNull();
    await Promise.all([leaseA.release(), leaseB.release()]);
  });

  it('refuses keys that are not tenant-scoped', async () => {
    await expect(locks.acquire('period-close')).rejects.toThrow(TypeError);
  });
});

describe('mutual exclusion and ownership', () => {
  it('lets at most one of 50 contenders inside at a time and runs them all', async () => {
    const key = lockKey(tenant(), 'period-close', '2026-02');
    let inside = 0;
    let maxInside = 0;
    const tokens: number[] = [];
    const results = await race(50, (i) =>
      locks.withLock(key, { ttlMs: 2_000, waitMs: 60_000 }, async (lease) => {
        inside += 1;
        maxInside = Math.max(maxInside, inside);
        tokens.push(lease.token);
        await sleep(5);
        inside -= 1;
        return i;
      }),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(maxInside).toBe(1);
    expect(tokens).toHaveLength(50);
    // Each holder got a newer token than every holder before it.
    expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
    expect(new Set(tokens).size).toBe(50);
  });

  it('waits for a held lock up to waitMs and gets it once the holder releases', async () => {
    const key = lockKey(tenant(), 'import');
    const first = held(await locks.acquire(key));
    const started = Date.now();
    const waiting = locks.acquire(key, { waitMs: 3_000 });
    await sleep(200);
    await first.release();
    const second = held(await waiting);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(2_000);
    await second.release();
  });

  it("a non-owner cannot release: an expired holder releasing leaves the new holder's lock in place", async () => {
    const key = lockKey(tenant(), 'period-close', '2026-03');
    const a = held(await locks.acquire(key, { ttlMs: 150 }));
    await sleep(250);
    const b = held(await locks.acquire(key, { waitMs: 0, ttlMs: 5_000 }));
    expect(await a.release()).toBe(false);
    expect(await redis.exists(prefix + key)).toBe(1);
    expect(await locks.acquire(key, { waitMs: 0 })).toBeNull();
    expect(b.signal.aborted).toBe(false);
    expect(await b.release()).toBe(true);
    expect(await redis.exists(prefix + key)).toBe(0);
  });

  it('withLock throws LockNotAcquiredError (AppError CONFLICT) when the lock stays held past waitMs', async () => {
    const key = lockKey(tenant(), 'period-close', '2026-04');
    const holder = held(await locks.acquire(key));
    let ran = false;
    const err: unknown = await locks
      .withLock(key, { waitMs: 100 }, async () => {
        ran = true;
        return Promise.resolve();
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockNotAcquiredError);
    expect(err).toBeInstanceOf(AppError);
    expect(isAppError(err) && err.code).toBe('CONFLICT');
    expect(isAppError(err) && err.status).toBe(409);
    expect(ran).toBe(false);
    await holder.release();
  });

  it('withLock releases the lock when the function throws', async () => {
    const key = lockKey(tenant(), 'report');
    await expect(
      locks.withLock(key, {}, async () => {
        await sleep(10);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await redis.exists(prefix + key)).toBe(0);
    const again = held(await locks.acquire(key, { waitMs: 0 }));
    await again.release();
  });
});

describe('renewal and lost leases', () => {
  it('renewal keeps a job running 5x the TTL safe: contenders keep failing and the signal stays quiet', async () => {
    const key = lockKey(tenant(), 'maintenance');
    const ttlMs = 500;
    const contenderResults: (Lease | null)[] = [];
    await locks.withLock(key, { ttlMs, waitMs: 0 }, async (lease) => {
      const started = Date.now();
      while (Date.now() - started < 5 * ttlMs) {
        contenderResults.push(await locks.acquire(key, { waitMs: 0 }));
        await sleep(50);
      }
      expect(lease.signal.aborted).toBe(false);
      expect(lease.expiresAt).toBeGreaterThan(Date.now());
    });
    expect(contenderResults.length).toBeGreaterThanOrEqual(25);
    expect(contenderResults.every((r) => r === null)).toBe(true);
    expect(await redis.exists(prefix + key)).toBe(0);
  });

  it('extend() moves expiresAt forward for a manually managed lease', async () => {
    const key = lockKey(tenant(), 'manual');
    const lease = held(await locks.acquire(key, { ttlMs: 300 }));
    const before = lease.expiresAt;
    await sleep(150);
    expect(await lease.extend(1_000)).toBe(true);
    expect(lease.expiresAt).toBeGreaterThan(before + 500);
    await sleep(300);
    expect(lease.signal.aborted).toBe(false);
    await lease.release();
    expect(await lease.extend()).toBe(false);
  });

  it('aborts the signal of a lease whose key is deleted behind its back', async () => {
    const key = lockKey(tenant(), 'maintenance');
    const returned = await locks.withLock(key, { ttlMs: 400, waitMs: 0 }, async (lease) => {
      await redis.del(prefix + key);
      await waitFor(() => lease.signal.aborted, 2_000, 10);
      expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
      return 'finished anyway';
    });
    expect(returned).toBe('finished anyway');
  });

  it('aborts the signal when Redis dies and renewal fails until the lease expires', async () => {
    const server = await privateRedis();
    const client = await privateClient(server.url);
    const mgr = manager({ redis: client, prefix: '' });
    const key = lockKey(tenant(), 'maintenance');
    let abortedAfterMs = -1;
    await mgr.withLock(key, { ttlMs: 400, waitMs: 0 }, async (lease) => {
      const killedAt = Date.now();
      await server.kill();
      await waitFor(() => lease.signal.aborted, 3_000, 10);
      abortedAfterMs = Date.now() - killedAt;
      expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    });
    // Lost at its expiry (ttl 400 ms, renewed at 200 ms), not later.
    expect(abortedAfterMs).toBeLessThan(1_000);
    await server.start();
  });
});

describe('fencing tokens', () => {
  it("rejects the fenced write of a holder that paused past its TTL while the new holder's write succeeds", async () => {
    const t = tenant();
    const where = { tenant_id: t, period: '2026-01' };
    await app(PERIODS).insert(where);
    const key = lockKey(t, 'period-close', '2026-01');

    const paused = held(await locks.acquire(key, { ttlMs: 200 })); // no renewal
    await sleep(300); // e.g. a GC pause or a stalled process
    const current = held(await locks.acquire(key, { waitMs: 0 }));
    expect(current.token).toBeGreaterThan(paused.token);

    expect(await fencedUpdate(app, PERIODS, where, { status: 'closed by current' }, current.token)).toBe(1);
    const stale: unknown = await fencedUpdate(
      app,
      PERIODS,
      where,
      { status: 'closed by paused' },
      paused.token,
    ).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(StaleLeaseError);
    expect(isAppError(stale) && stale.code).toBe('CONFLICT');
    expect((stale as StaleLeaseError).newestToken).toBe(current.token);

    const row = await app(PERIODS).where(where).first();
    expect(row).toMatchObject({ status: 'closed by current', fence_token: String(current.token) });
    // The same holder may write again with its token (<= semantics).
    expect(await fencedUpdate(app, PERIODS, where, { status: 'closed' }, current.token)).toBe(1);
    await current.release();
  });

  it('assertFenced guards a multi-statement transaction and rolls back a stale one', async () => {
    const t = tenant();
    const where = { tenant_id: t, period: '2026-02' };
    await app(PERIODS).insert(where);
    const key = lockKey(t, 'period-close', '2026-02');
    const old = held(await locks.acquire(key, { ttlMs: 100 }));
    await sleep(200);
    const current = held(await locks.acquire(key, { waitMs: 0 }));

    await app.transaction(async (trx) => {
      await assertFenced(trx, PERIODS, where, current.token);
      await trx(PERIODS).where(where).update({ status: 'closed' });
    });
    await expect(
      app.transaction(async (trx) => {
        await assertFenced(trx, PERIODS, where, old.token);
        await trx(PERIODS).where(where).update({ status: 'reopened by a stale holder' });
      }),
    ).rejects.toBeInstanceOf(StaleLeaseError);
    expect(await app(PERIODS).where(where).first()).toMatchObject({
      status: 'closed',
      fence_token: String(current.token),
    });
    await expect(
      assertFenced(app, PERIODS, { tenant_id: t, period: '1999-01' }, current.token),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await current.release();
  });

  it('keeps tokens monotonic per key across a Redis restart', async () => {
    const server = await privateRedis();
    const client = await privateClient(server.url);
    const mgr = manager({ redis: client, prefix: '' });
    const key = lockKey(tenant(), 'period-close', '2026-05');
    const before = held(await mgr.acquire(key, { ttlMs: 60_000 }));
    expect((await mgr.acquire(key, { waitMs: 0 })) === null).toBe(true);

    await server.kill();
    const down: unknown = await mgr.acquire(key, { waitMs: 0 }).catch((e: unknown) => e);
    expect(isAppError(down) && down.code).toBe('UNAVAILABLE');
    await server.start();

    // Redis forgot the lock (no persistence): a new holder gets it although `before` still thinks it is
    // valid, and only the fencing token (kept in PostgreSQL) tells the two apart.
    const after = held(await mgr.acquire(key, { waitMs: 5_000 }));
    expect(after.token).toBeGreaterThan(before.token);
    expect(before.signal.aborted).toBe(false);
    await after.release();
    await before.release();
  });

  it('reports acquired, busy, released and lost to the metrics hooks', async () => {
    const events: string[] = [];
    const waits: number[] = [];
    const mgr = manager({
      metrics: {
        acquired: (e) => {
          events.push(`acquired:${e.name}`);
          waits.push(e.waitedMs);
        },
        busy: (e) => events.push(`busy:${e.name}`),
        failed: (e) => events.push(`failed:${e.name}`),
        released: (e) => events.push(`released:${e.name}`),
        lost: (e) => events.push(`lost:${e.name}`),
      },
    });
    const key = lockKey(tenant(), 'period-close', '2026-06');
    const lease = held(await mgr.acquire(key, { ttlMs: 100 }));
    expect(await mgr.acquire(key, { waitMs: 0 })).toBeNull();
    await sleep(200);
    await mgr.withLock(key, { waitMs: 0 }, async () => Promise.resolve());
    await lease.release();
    expect(events).toEqual([
      'acquired:period-close',
      'busy:period-close',
      'lost:period-close',
      'acquired:period-close',
      'released:period-close',
    ]);
    expect(waits.every((w) => w >= 0 && w < 1_000)).toBe(true);
  });
});
