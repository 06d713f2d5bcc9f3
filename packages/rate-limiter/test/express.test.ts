import { AppError } from '@kv/errors';
import request from 'supertest';
import { MemoryRateLimitStore, type RateLimitStore } from '../src';
import { clientIp, createLimiter } from '../src/express';
import { makeApp } from './helpers';

// Unit tests of the glue with the in-memory store. Limits holding across instances and under concurrency
// are proven against real Redis in *.int.test.ts.

describe('createLimiter with an in-memory store', () => {
  it('leaves requests whose key is undefined uncounted and without headers', async () => {
    const store = new MemoryRateLimitStore();
    const app = makeApp([createLimiter({ name: 'user', limit: 1, store, key: () => undefined })]);
    for (let i = 0; i < 3; i += 1) {
      const res = await request(app).get('/v1/things');
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-policy']).toBeUndefined();
    }
  });

  it('rejects over the limit with a problem+json 429 carrying Retry-After and the headers', async () => {
    const app = makeApp([
      createLimiter({ name: 'ip', limit: 1, store: new MemoryRateLimitStore(), key: () => 'a' }),
    ]);
    expect((await request(app).get('/v1/things')).status).toBe(200);
    const res = await request(app).get('/v1/things').set('X-Request-Id', 'req-1');
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: 'rate-limited',
      title: 'Too many requests',
      status: 429,
      request_id: 'req-1',
    });
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    expect(res.headers['x-ratelimit-limit']).toBe('1');
    expect(res.headers.ratelimit).toMatch(/^"ip"; r=0; t=\d+$/);
  });

  it('passes an error thrown by the key function to the error handler', async () => {
    const key = () => {
      throw new AppError('UNAUTHENTICATED', 'no token');
    };
    const app = makeApp([createLimiter({ name: 'user', limit: 5, store: new MemoryRateLimitStore(), key })]);
    const res = await request(app).get('/v1/things');
    expect(res.status).toBe(401);
  });

  it('answers 500 (never lets the request through) when the store fails for a reason other than Redis', async () => {
    const store: RateLimitStore = Object.assign(new MemoryRateLimitStore(), {
      increment: () => Promise.reject(new Error('bug')),
    });
    const logs: string[] = [];
    const app = makeApp([createLimiter({ name: 'user', limit: 5, store, key: () => 'k' })], { logs });
    const res = await request(app).get('/v1/things');
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ type: 'internal' });
    expect(JSON.stringify(res.body)).not.toContain('bug');
    expect(logs).toEqual(['error: unhandled error']);
  });
});

describe('clientIp', () => {
  const req = (remoteAddress: string | undefined, xff?: string) =>
    ({
      socket: { remoteAddress },
      headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
    }) as Parameters<typeof clientIp>[0];

  it('uses X-Forwarded-For only behind a trusted proxy', () => {
    expect(clientIp(req('::ffff:127.0.0.1', '198.51.100.1'), ['127.0.0.1'])).toBe('198.51.100.1');
    expect(clientIp(req('203.0.113.4', '198.51.100.1'), ['127.0.0.1'])).toBe('203.0.113.4');
    expect(clientIp(req(undefined), ['127.0.0.1'])).toBeUndefined();
  });
});
