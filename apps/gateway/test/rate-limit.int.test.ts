import request from 'supertest';
import { race } from '@kv/testing';
import {
  createEnv,
  createTenant,
  createUser,
  login,
  loginPlatform,
  nextIp,
  type Env,
  type Instance,
} from './helpers';

let env: Env;
let gws: Instance[];

beforeAll(async () => {
  env = await createEnv('limits', {
    RATE_LIMIT_IP_PER_MIN: '40',
    RATE_LIMIT_LOGIN_PER_MIN: '10',
    RATE_LIMIT_USER_PER_MIN: '30',
    RATE_LIMIT_TENANT_PER_MIN: '50',
  });
  gws = [await env.start(), await env.start(), await env.start()];
});

afterAll(() => env.close());

const statuses = (results: PromiseSettledResult<request.Response>[]) =>
  results.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value.status;
  });

describe('global limits across three gateway instances', () => {
  it('lets exactly the IP limit of anonymous requests through, spread over three instances', async () => {
    const ip = nextIp();
    const results = await race(90, (i) =>
      request(gws[i % 3]!.app)
        .get('/v1/products')
        .set('X-Forwarded-For', ip),
    );
    const codes = statuses(results);
    expect(codes.filter((c) => c === 401)).toHaveLength(40);
    expect(codes.filter((c) => c === 429)).toHaveLength(50);
    const limited = results
      .map((r) => (r as PromiseFulfilledResult<request.Response>).value)
      .find((r) => r.status === 429)!;
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['content-type']).toMatch(/problem\+json/);
    expect(limited.body).toMatchObject({ type: 'rate-limited', status: 429 });
    expect(limited.headers['ratelimit-policy']).toMatch(/^"ip"; q=40; w=60/);
    expect(limited.headers['x-ratelimit-limit']).toBe('40');
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(limited.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000);
  });

  it('counts per user and per tenant globally, and the headers show the tightest limit', async () => {
    const platform = await loginPlatform(gws[0]!.app);
    await createTenant(gws[0]!.app, platform.access_token, 'busy', 'admin@busy.test', 'busy-admin-pass');
    const admin = await login(gws[0]!.app, 'busy', 'admin@busy.test', 'busy-admin-pass');
    await createUser(gws[0]!.app, admin.access_token, {
      email: 'a@busy.test',
      password: 'a-password-12',
      roles: ['viewer'],
    });
    await createUser(gws[0]!.app, admin.access_token, {
      email: 'b@busy.test',
      password: 'b-password-12',
      roles: ['viewer'],
    });
    const a = await login(gws[1]!.app, 'busy', 'a@busy.test', 'a-password-12');
    const b = await login(gws[2]!.app, 'busy', 'b@busy.test', 'b-password-12');
    // The tenant has used 2 of 50 (the admin's two POSTs).
    const first = await race(40, (i) =>
      request(gws[i % 3]!.app)
        .get('/v1/auth/me')
        .set('Authorization', `Bearer ${a.access_token}`),
    );
    const firstCodes = statuses(first);
    expect(firstCodes.filter((c) => c === 200)).toHaveLength(30);
    expect(firstCodes.filter((c) => c === 429)).toHaveLength(10);
    const userLimited = first
      .map((r) => (r as PromiseFulfilledResult<request.Response>).value)
      .find((r) => r.status === 429)!;
    expect(userLimited.headers['ratelimit-policy']).toMatch(/^"user"; q=30/);
    // 32 of 50 used: b gets 18 before the tenant limit stops it.
    const second = await race(30, (i) =>
      request(gws[i % 3]!.app)
        .get('/v1/auth/me')
        .set('Authorization', `Bearer ${b.access_token}`),
    );
    const secondCodes = statuses(second);
    expect(secondCodes.filter((c) => c === 200)).toHaveLength(18);
    expect(secondCodes.filter((c) => c === 429)).toHaveLength(12);
    const tenantLimited = second
      .map((r) => (r as PromiseFulfilledResult<request.Response>).value)
      .find((r) => r.status === 429)!;
    expect(tenantLimited.headers['ratelimit-policy']).toMatch(/^"tenant"; q=50/);
    expect(tenantLimited.headers['retry-after']).toMatch(/^\d+$/);
    const ok = second
      .map((r) => (r as PromiseFulfilledResult<request.Response>).value)
      .filter((r) => r.status === 200);
    // Each success shows whichever of user/tenant has fewer requests left.
    for (const r of ok) {
      const remaining = Number(r.headers['x-ratelimit-remaining']);
      expect(remaining).toBeLessThanOrEqual(18);
      expect(r.headers.ratelimit).toMatch(/^"(tenant|user)"; r=\d+; t=\d+$/);
    }
  });
});

describe('login brute force', () => {
  it('answers 429 with Retry-After after the login limit, without touching the IP limit', async () => {
    const ip = nextIp();
    const codes: number[] = [];
    let last: request.Response | undefined;
    for (let i = 0; i < 12; i++) {
      last = await request(gws[i % 3]!.app)
        .post('/v1/auth/login')
        .set('X-Forwarded-For', ip)
        .send({ tenant: 'platform', email: 'root@platform.test', password: `guess-${i}-password` });
      codes.push(last.status);
    }
    expect(codes).toEqual([...Array<number>(10).fill(401), 429, 429]);
    expect(last!.headers['retry-after']).toMatch(/^\d+$/);
    expect(last!.headers['ratelimit-policy']).toMatch(/^"login"; q=10/);
    // Even the right password is refused now: the limit counts attempts, not failures.
    const right = await request(gws[0]!.app)
      .post('/v1/auth/login')
      .set('X-Forwarded-For', ip)
      .send({ tenant: 'platform', email: 'root@platform.test', password: 'platform-admin-pass' });
    expect(right.status).toBe(429);
    // The same IP's other anonymous requests still have their whole IP allowance.
    const anon = await request(gws[1]!.app).get('/v1/products').set('X-Forwarded-For', ip);
    expect(anon.status).toBe(401);
    expect(anon.headers['x-ratelimit-remaining']).toBe('39');
    expect(anon.headers['ratelimit-policy']).toMatch(/^"ip"/);
  });

  it('believes X-Forwarded-For only from trusted proxies', async () => {
    const strict = await env.start({ TRUSTED_PROXIES: '10.99.99.99' });
    const r1 = await request(strict.app).get('/v1/products').set('X-Forwarded-For', nextIp());
    const r2 = await request(strict.app).get('/v1/products').set('X-Forwarded-For', nextIp());
    // Same peer (loopback, untrusted here): one counter despite different X-Forwarded-For values.
    expect(Number(r2.headers['x-ratelimit-remaining'])).toBe(Number(r1.headers['x-ratelimit-remaining']) - 1);
  });
});

describe('outside the limits', () => {
  it('never limits health, metrics and docs', async () => {
    const ip = nextIp();
    const results = await race(60, (i) =>
      request(gws[i % 3]!.app)
        .get(['/health/live', '/metrics', '/openapi.json'][i % 3]!)
        .set('X-Forwarded-For', ip),
    );
    expect(new Set(statuses(results))).toEqual(new Set([200]));
    const after = await request(gws[0]!.app).get('/v1/products').set('X-Forwarded-For', ip);
    expect(after.headers['x-ratelimit-remaining']).toBe('39');
  });
});
