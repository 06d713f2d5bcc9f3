import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, startPrivateRedis, waitFor, type PrivateRedis } from '@kv/testing';
import type Redis from 'ioredis';
import request from 'supertest';
import { FallbackStore, type FallbackStateChange } from '../src';
import { createLimiter } from '../src/express';
import { limiterClient, makeApp } from './helpers';

let priv: PrivateRedis;
const clients: Redis[] = [];
const logs: string[] = [];

beforeAll(async () => {
  priv = await startPrivateRedis();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await priv.kill();
});

/** A limiter of 100/min with a fallback limit of 5, wired to counters the way an app wires prom-client. */
async function setup(client?: Redis) {
  const redis = client ?? (await limiterClient(priv.url));
  clients.push(redis);
  const fallbacks: string[] = [];
  const changes: FallbackStateChange[] = [];
  const decisions: { source: string; allowed: boolean }[] = [];
  const store = new FallbackStore({
    redis,
    prefix: 'rl:',
    name: 'user',
    fallbackLimit: 5,
    probeIntervalMs: 100,
    onFallback: (name) => fallbacks.push(name),
    onStateChange: (change) => changes.push(change),
  });
  const limiter = createLimiter({
    name: 'user',
    limit: 100,
    store,
    key: () => ({ tenant: 't1', id: 'u1' }),
    onDecision: (r, allowed) => decisions.push({ source: r.source, allowed }),
  });
  const app = makeApp([limiter], { logs });
  return { redis, store, app, fallbacks, changes, decisions };
}

describe('Redis failure: local fallback limit', () => {
  it('serves with the fallback limit while Redis is down, says so, and returns to Redis when it is back', async () => {
    const { redis, store, app, fallbacks, changes, decisions } = await setup();

    for (let i = 0; i < 3; i += 1) {
      const res = await request(app).get('/v1/things');
      expect(res.status).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBe('100');
    }
    expect(store.isDegraded()).toBe(false);

    await priv.kill();
    const statuses: number[] = [];
    let last: request.Response | undefined;
    for (let i = 0; i < 8; i += 1) {
      last = await request(app).get('/v1/things');
      statuses.push(last.status);
      if (i < 5) expect(last.headers['x-ratelimit-limit']).toBe('5');
    }
    // Never a 500: five pass under the fallback limit, then 429 like any other limit.
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(last?.headers['retry-after']).toMatch(/^\d+$/);
    expect(last?.body).toMatchObject({ type: 'rate-limited', status: 429 });
    expect(last?.headers.ratelimit).toMatch(/^"user"; r=0; t=\d+$/);
    expect(store.isDegraded()).toBe(true);
    expect(fallbacks).toHaveLength(8);
    expect(new Set(fallbacks)).toEqual(new Set(['user']));
    expect(store.stats()).toMatchObject({ degraded: true, fallbackHits: 8, recoveries: 0 });
    expect(store.stats().degradedSince).toBeInstanceOf(Date);
    expect(changes).toEqual([{ name: 'user', degraded: true, error: expect.any(Error) }]);
    expect(decisions.filter((d) => d.source === 'fallback')).toHaveLength(8);
    expect(logs.filter((l) => l.startsWith('error'))).toEqual([]);

    await priv.start();
    await waitFor(async () => {
      const res = await request(app).get('/v1/things');
      return res.headers['x-ratelimit-limit'] === '100';
    }, 10_000);
    expect(store.isDegraded()).toBe(false);
    expect(store.stats()).toMatchObject({ degraded: false, degradedSince: undefined, recoveries: 1 });
    expect(changes.at(-1)).toEqual({ name: 'user', degraded: false });

    // Counting is in Redis again (it restarted empty, so the window restarted too).
    const before = Number(await redis.get('rl:{t1}:user:u1'));
    const res = await request(app).get('/v1/things');
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-remaining']).toBe(String(100 - before - 1));
    expect(Number(await redis.get('rl:{t1}:user:u1'))).toBe(before + 1);
    await redis.del('rl:{t1}:user:u1');
  });

  it('starts degraded when Redis is down at start-up and switches to Redis once it answers', async () => {
    const redis = await limiterClient(priv.url);
    await priv.kill();
    const { store, app, changes } = await setup(redis);
    await waitFor(() => store.isDegraded());
    const res = await request(app).get('/v1/things');
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-limit']).toBe('5');
    expect(changes[0]?.degraded).toBe(true);

    await priv.start();
    // A health check can drive recovery without traffic.
    await waitFor(() => store.probe(), 10_000, 100);
    expect(store.isDegraded()).toBe(false);
    const after = await request(app).get('/v1/things');
    expect(after.headers['x-ratelimit-limit']).toBe('100');
    expect(after.headers['x-ratelimit-remaining']).toBe('99');
    await redis.del('rl:{t1}:user:u1');
  });

  it('falls back after the command timeout when Redis hangs instead of failing', async () => {
    // A redis-server of our own, so we can freeze it (SIGSTOP) instead of killing it: the connection stays
    // open and only ioredis' commandTimeout (300 ms here) can tell that Redis is gone.
    const port = await freePort();
    const proc: ChildProcess = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    try {
      const url = `redis://127.0.0.1:${port}`;
      const redis = await waitFor(async () => limiterClient(url), 5_000, 100);
      const { store, app } = await setup(redis);
      expect((await request(app).get('/v1/things')).headers['x-ratelimit-limit']).toBe('100');

      proc.kill('SIGSTOP');
      const started = Date.now();
      const frozen = await request(app).get('/v1/things');
      const tookMs = Date.now() - started;
      expect(frozen.status).toBe(200);
      expect(frozen.headers['x-ratelimit-limit']).toBe('5');
      expect(tookMs).toBeLessThan(2_000);
      expect(store.isDegraded()).toBe(true);
      // While degraded, requests no longer wait for the timeout.
      const quick = Date.now();
      await request(app).get('/v1/things');
      expect(Date.now() - quick).toBeLessThan(250);

      proc.kill('SIGCONT');
      await waitFor(() => store.probe(), 10_000, 100);
      expect((await request(app).get('/v1/things')).headers['x-ratelimit-limit']).toBe('100');
    } finally {
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
    }
  });
});
