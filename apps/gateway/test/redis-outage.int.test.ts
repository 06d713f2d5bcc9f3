import request from 'supertest';
import { startPrivateRedis, waitFor, type PrivateRedis } from '@kv/testing';
import { createEnv, login, loginPlatform, nextIp, type Env, type Instance } from './helpers';

let redis: PrivateRedis;
let env: Env;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  redis = await startPrivateRedis();
  env = await createEnv('outage', {
    REDIS_URL: redis.url,
    RATE_LIMIT_IP_PER_MIN: '30',
    RATE_LIMIT_USER_PER_MIN: '60',
    RATE_LIMIT_FALLBACK_DIVISOR: '3',
    REDIS_COMMAND_TIMEOUT_MS: '200',
  });
  a = await env.start({}, { mirrorSyncMs: 200 });
  b = await env.start({}, { mirrorSyncMs: 200 });
});

afterAll(async () => {
  await env.close();
  await redis.kill();
});

const me = (app: Instance['app'], token: string) =>
  request(app).get('/v1/auth/me').set('Authorization', `Bearer ${token}`);

describe('with Redis down', () => {
  it('keeps serving valid tokens with the fallback limit, still refuses tokens revoked before, answers 503 for login/refresh/logout and reports degraded', async () => {
    const keep = await loginPlatform(a.app);
    const revoked = await loginPlatform(a.app);
    await request(a.app)
      .post('/v1/auth/logout')
      .set('Authorization', `Bearer ${revoked.access_token}`)
      .expect(204);
    // Instance b learns of the revocation through the mirror (pub/sub + periodic sync).
    await waitFor(async () => (await me(b.app, revoked.access_token)).status === 401);
    const ready = await request(a.app).get('/health/ready');
    expect(ready.body.checks.redis.status).toBe('healthy');

    await redis.kill();

    const served = await me(b.app, keep.access_token);
    expect(served.status).toBe(200);
    // The fallback limit (60 / 3 = 20 per instance) is what the headers show.
    expect(served.headers['x-ratelimit-limit']).toBe('20');
    expect((await me(a.app, revoked.access_token)).status).toBe(401);
    expect((await me(b.app, revoked.access_token)).status).toBe(401);

    const started = Date.now();
    const loginRes = await request(a.app)
      .post('/v1/auth/login')
      .set('X-Forwarded-For', nextIp())
      .send({ tenant: 'platform', email: 'root@platform.test', password: 'platform-admin-pass' });
    expect(loginRes.status).toBe(503);
    expect(loginRes.body).toMatchObject({ type: 'unavailable', status: 503 });
    expect(JSON.stringify(loginRes.body)).not.toMatch(/ECONNREFUSED|redis|stack|Stream/i);
    const refresh = await request(a.app)
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', nextIp())
      .send({ refresh_token: keep.refresh_token });
    expect(refresh.status).toBe(503);
    const logout = await request(b.app)
      .post('/v1/auth/logout')
      .set('Authorization', `Bearer ${keep.access_token}`);
    expect(logout.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5000);

    const health = await request(a.app).get('/health/ready');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('degraded');
    expect(health.body.checks.redis.status).toBe('degraded');
    expect(health.body.checks.database.status).toBe('healthy');
    expect(health.body.checks.rate_limiter.status).toBe('degraded');

    // Anonymous requests are limited by the in-process fallback (30 / 3 = 10 per instance), not let through unlimited.
    const ip = nextIp();
    const codes: number[] = [];
    for (let i = 0; i < 12; i++)
      codes.push((await request(a.app).get('/v1/products').set('X-Forwarded-For', ip)).status);
    expect(codes.filter((c) => c === 401)).toHaveLength(10);
    expect(codes.filter((c) => c === 429)).toHaveLength(2);

    const metrics = await request(a.app).get('/metrics');
    expect(metrics.text).toMatch(/gateway_rate_limiter_degraded\{[^}]*limiter="user"[^}]*\} 1/);

    await redis.start();
    await waitFor(
      async () =>
        (
          await request(a.app)
            .post('/v1/auth/login')
            .set('X-Forwarded-For', nextIp())
            .send({ tenant: 'platform', email: 'root@platform.test', password: 'platform-admin-pass' })
        ).status === 200,
      15_000,
      200,
    );
    await waitFor(
      async () => {
        const { checks } = (await request(a.app).get('/health/ready')).body as {
          checks: Record<string, { status: string }>;
        };
        return checks.redis!.status === 'healthy' && checks.rate_limiter!.status === 'healthy';
      },
      15_000,
      200,
    );
    const fresh = await login(b.app, 'platform', 'root@platform.test', 'platform-admin-pass');
    expect((await me(a.app, fresh.access_token)).status).toBe(200);
  });
});
