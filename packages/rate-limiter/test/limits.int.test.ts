import { DEFAULT_REDIS_URL, deleteKeys, uniquePrefix } from '@kv/testing';
import type Redis from 'ioredis';
import request from 'supertest';
import { FallbackStore } from '../src';
import { createLimiter, ipLimiter, loginLimiter, tenantLimiter, userLimiter } from '../src/express';
import { get, identityOf, limiterClient, listen, makeApp, type Listening } from './helpers';

const ROOT = uniquePrefix('rl');
const clients: Redis[] = [];
const servers: Listening[] = [];
let redis: Redis;
let seq = 0;

/** A fresh prefix per test, so tests in this file never share counters. */
function prefix(): string {
  seq += 1;
  return `${ROOT}${seq}:`;
}

function store(p: string, client: Redis = redis, fallbackLimit = 1_000): FallbackStore {
  return new FallbackStore({ redis: client, prefix: p, fallbackLimit });
}

beforeAll(async () => {
  redis = await limiterClient(DEFAULT_REDIS_URL);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await deleteKeys(redis, ROOT);
  await Promise.all([...clients, redis].map((c) => c.quit()));
});

describe('rate limits in Redis', () => {
  it('holds a limit of 100 exactly across 3 instances under 300 concurrent requests', async () => {
    const p = prefix();
    // Three "gateway instances": separate Express apps, each with its own Redis client and store, sharing
    // only the Redis prefix. rate-limit-redis windows start at a key's first hit (SET ... PX on hit 1), not
    // at calendar minutes, so a 60 s window cannot roll over during this ~1 s burst; the elapsed-time
    // assertion below would name the cause if the machine ever stalled that long.
    const instances: Listening[] = [];
    for (let i = 0; i < 3; i += 1) {
      const client = await limiterClient(DEFAULT_REDIS_URL);
      clients.push(client);
      const limiter = createLimiter({
        name: 'burst',
        limit: 100,
        store: store(p, client),
        key: () => 'shared',
      });
      const server = await listen(makeApp([limiter]));
      servers.push(server);
      instances.push(server);
    }
    const started = Date.now();
    const responses = await Promise.all(
      Array.from({ length: 300 }, (_, i) => get(instances[i % 3]!, '/v1/things')),
    );
    expect(Date.now() - started).toBeLessThan(60_000);

    const ok = responses.filter((r) => r.status === 200);
    const limited = responses.filter((r) => r.status === 429);
    expect(ok).toHaveLength(100);
    expect(limited).toHaveLength(200);
    for (const r of limited) {
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = JSON.parse(r.body) as Record<string, unknown>;
      expect(problem).toMatchObject({ type: 'rate-limited', status: 429, retry_after: expect.any(Number) });
      expect(typeof problem.request_id).toBe('string');
      expect(r.headers['x-ratelimit-remaining']).toBe('0');
    }
    // Every successful response came from one instance or another, never more than 100 in total.
    expect(new Set(ok.map((r) => r.headers['x-ratelimit-remaining'])).size).toBe(100);
    // Every request was counted once, by one atomic script call.
    expect(await redis.get(`${p}burst:shared`)).toBe('300');
  });

  it('keeps user limits of two tenants independent for the same user id', async () => {
    const p = prefix();
    const limiter = userLimiter({ limit: 3, store: store(p), identity: (_req, res) => identityOf(res) });
    const app = makeApp([limiter]);
    const as = (tenant: string) =>
      request(app).get('/v1/things').set('x-test-tenant', tenant).set('x-test-user', 'u1');

    for (let i = 0; i < 3; i += 1) expect((await as('tenant-a')).status).toBe(200);
    expect((await as('tenant-a')).status).toBe(429);
    const remainingB: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await as('tenant-b');
      expect(res.status).toBe(200);
      remainingB.push(res.headers['x-ratelimit-remaining'] as string);
    }
    expect(remainingB).toEqual(['2', '1', '0']);
    expect((await as('tenant-b')).status).toBe(429);
    // Keys carry the tenant as a Cluster hash tag and the limiter name.
    expect(await redis.get(`${p}{tenant-a}:user:u1`)).toBe('4');
    expect(await redis.get(`${p}{tenant-b}:user:u1`)).toBe('4');
  });

  it('counts login requests per IP separately from the general IP limit', async () => {
    const p = prefix();
    const isLogin = (req: { method: string; path: string }) =>
      req.method === 'POST' && req.path === '/v1/auth/login';
    const ip = ipLimiter({
      limit: 3,
      store: store(p),
      trustedProxies: [],
      // The IP limit is for unauthenticated requests, and login has its own limit.
      skip: (req, res) => isLogin(req) || identityOf(res) !== undefined,
    });
    const login = loginLimiter({ limit: 2, store: store(p), trustedProxies: [] });
    const app = makeApp([ip], { loginLimiter: login });

    const first = await request(app).post('/v1/auth/login');
    expect(first.status).toBe(200);
    expect(first.headers['ratelimit-policy']).toMatch(/^"login"; q=2; w=60;/);
    expect((await request(app).post('/v1/auth/login')).status).toBe(200);
    const third = await request(app).post('/v1/auth/login');
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ type: 'rate-limited' });

    // Three logins did not touch the general IP counter: its 3 requests are all still there.
    const remaining: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await request(app).get('/v1/things');
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-policy']).toMatch(/^"ip"; q=3;/);
      remaining.push(res.headers['x-ratelimit-remaining'] as string);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    expect((await request(app).get('/v1/things')).status).toBe(429);
    // Authenticated requests are not under the IP limit.
    const authed = await request(app).get('/v1/things').set('x-test-tenant', 't').set('x-test-user', 'u');
    expect(authed.status).toBe(200);
    expect(authed.headers['x-ratelimit-limit']).toBeUndefined();
    expect(await redis.get(`${p}login:127.0.0.1`)).toBe('3');
    expect(await redis.get(`${p}ip:127.0.0.1`)).toBe('4');
  });

  it('shows the limit with the fewest requests remaining when several apply', async () => {
    const p = prefix();
    const identity = (_req: unknown, res: Parameters<typeof identityOf>[0]) => identityOf(res);
    const user = userLimiter({ limit: 3, store: store(p), identity });
    const tenant = tenantLimiter({ limit: 4, store: store(p), identity });
    const app = makeApp([user, tenant]);
    const as = (u: string) =>
      request(app).get('/v1/things').set('x-test-tenant', 'acme').set('x-test-user', u);
    const before = Math.floor(Date.now() / 1000);

    await as('u1');
    const r2 = await as('u1'); // user: 1 left of 3, tenant: 2 left of 4 → user
    expect(r2.status).toBe(200);
    expect(r2.headers['x-ratelimit-limit']).toBe('3');
    expect(r2.headers['x-ratelimit-remaining']).toBe('1');
    expect(r2.headers['ratelimit-policy']).toMatch(/^"user"; q=3; w=60; pk=:[A-Za-z0-9+/=]+:$/);
    expect(r2.headers.ratelimit).toMatch(/^"user"; r=1; t=(59|60)$/);
    expect(r2.body.limits).toEqual(['user', 'tenant']);
    const reset = Number(r2.headers['x-ratelimit-reset']);
    expect(reset).toBeGreaterThanOrEqual(before + 59);
    expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 60);

    const r3 = await as('u2'); // user: 2 left, tenant: 1 left → tenant
    expect(r3.status).toBe(200);
    expect(r3.headers['x-ratelimit-limit']).toBe('4');
    expect(r3.headers['x-ratelimit-remaining']).toBe('1');
    expect(r3.headers.ratelimit).toMatch(/^"tenant"; r=1; t=\d+$/);

    await as('u2'); // tenant: 0 left, still allowed
    const r5 = await as('u2'); // user: 0 left (3 of 3, allowed), tenant: over → the exceeded tenant limit
    expect(r5.status).toBe(429);
    expect(r5.headers['ratelimit-policy']).toMatch(/^"tenant"; q=4;/);
    expect(r5.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(r5.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(r5.body).toMatchObject({ type: 'rate-limited', status: 429 });
    expect(r5.body.detail).toContain('"tenant"');
    // One response carries one set of headers, not one per limiter.
    expect(r5.headers['ratelimit-policy']).not.toContain(',');
  });

  it('honours X-Forwarded-For only from a trusted proxy', async () => {
    const trustedStore = prefix();
    const trusted = makeApp([
      ipLimiter({
        limit: 2,
        store: store(trustedStore),
        trustedProxies: ['127.0.0.1', '::1', '::ffff:127.0.0.1'],
      }),
    ]);
    const from = (app: typeof trusted, xff: string) =>
      request(app).get('/v1/things').set('X-Forwarded-For', xff);

    expect((await from(trusted, '198.51.100.1')).status).toBe(200);
    expect((await from(trusted, '198.51.100.1')).status).toBe(200);
    expect((await from(trusted, '198.51.100.1')).status).toBe(429);
    expect((await from(trusted, '198.51.100.2')).status).toBe(200);
    // A client cannot escape by prepending entries: the proxy-appended (rightmost) one counts.
    expect((await from(trusted, '203.0.113.50, 198.51.100.1')).status).toBe(429);
    expect(await redis.get(`${trustedStore}ip:198.51.100.1`)).toBe('4');
    expect(await redis.get(`${trustedStore}ip:127.0.0.1`)).toBeNull();

    // The peer (127.0.0.1) is not a trusted proxy here: a spoofed header changes nothing.
    const untrustedStore = prefix();
    const untrusted = makeApp([
      ipLimiter({ limit: 2, store: store(untrustedStore), trustedProxies: ['10.9.9.9'] }),
    ]);
    expect((await from(untrusted, '198.51.100.11')).status).toBe(200);
    expect((await from(untrusted, '198.51.100.12')).status).toBe(200);
    expect((await from(untrusted, '198.51.100.13')).status).toBe(429);
    expect(await redis.get(`${untrustedStore}ip:127.0.0.1`)).toBe('3');
  });

  it('refuses invalid options and a store shared by two limiters at construction', () => {
    const s = store(prefix());
    expect(() => createLimiter({ name: 'Bad Name', limit: 1, store: s, key: () => 'k' })).toThrow(/name/);
    expect(() => createLimiter({ name: 'x', limit: 0, store: s, key: () => 'k' })).toThrow(/limit/);
    expect(() => createLimiter({ name: 'x', limit: 1, windowMs: 10, store: s, key: () => 'k' })).toThrow(
      /windowMs/,
    );
    expect(() => ipLimiter({ limit: 1, store: s, trustedProxies: ['nginx'] })).toThrow(/nginx/);
    expect(() => ipLimiter({ limit: 1, store: s, trustedProxies: [], ipv6Subnet: 128 })).toThrow(
      /ipv6Subnet/,
    );
    createLimiter({ name: 'x', limit: 1, store: s, key: () => 'k' });
    expect(() => createLimiter({ name: 'y', limit: 1, store: s, key: () => 'k' })).toThrow(/already used/);
  });
});
