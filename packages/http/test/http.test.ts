import express from 'express';
import request from 'supertest';
import { z } from 'zod';
import { AppError } from '@kv/errors';
import { createNullLogger } from '@kv/logger';
import {
  currentRequestFields,
  errorHandler,
  healthRouter,
  jsonBody,
  notFoundHandler,
  parseOrThrow,
  parseParamsOrNotFound,
  requestId,
  sanitizeRequestId,
  serve,
  setRequestFields,
} from '../src';

function makeApp() {
  const app = express();
  app.use(requestId());
  app.use(jsonBody());
  app.post('/things/:id', (req, res) => {
    const body = parseOrThrow(z.object({ qty: z.number().int() }), req.body);
    const params = parseParamsOrNotFound(z.object({ id: z.string().regex(/^\d+$/) }), req.params);
    setRequestFields({ tenant_id: 't1' });
    res.status(201).json({ ...body, ...params, fields: currentRequestFields() });
  });
  app.get('/boom', () => {
    throw new Error('SELECT password FROM users -- driver says no');
  });
  app.get('/conflict', () => {
    throw new AppError('INSUFFICIENT_STOCK', 'Not enough.', { headers: { 'X-Extra': '1' } });
  });
  app.use(notFoundHandler());
  app.use(errorHandler(createNullLogger()));
  return app;
}

describe('http glue', () => {
  const app = makeApp();

  it('echoes a sane X-Request-Id and replaces an insane one', async () => {
    const ok = await request(app).post('/things/1').send({ qty: 1 }).set('X-Request-Id', 'abc-123');
    expect(ok.headers['x-request-id']).toBe('abc-123');
    expect(ok.body.fields).toEqual({ request_id: 'abc-123', tenant_id: 't1' });
    const bad = await request(app).post('/things/1').send({ qty: 1 }).set('X-Request-Id', 'has space');
    expect(bad.headers['x-request-id']).not.toBe('has space');
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(sanitizeRequestId('x'.repeat(201))).not.toBe('x'.repeat(201));
    expect(sanitizeRequestId('é')).not.toBe('é');
  });

  it('answers malformed JSON with a 400 problem that lists errors', async () => {
    const res = await request(app).post('/things/1').set('Content-Type', 'application/json').send('{"qty":');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body.type).toBe('validation-error');
    expect(res.body.errors.length).toBeGreaterThan(0);
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
  });

  it('answers schema failures with field paths, and string numbers are rejected', async () => {
    const res = await request(app).post('/things/1').send({ qty: '5' });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('qty');
  });

  it('checks the body before the path id (400 before 404), then 404 for a malformed id', async () => {
    expect((await request(app).post('/things/abc').send({ qty: 'x' })).status).toBe(400);
    const res = await request(app).post('/things/abc').send({ qty: 1 });
    expect(res.status).toBe(404);
    expect(res.body.type).toBe('not-found');
  });

  it('answers an oversized body with 413 problem+json', async () => {
    const res = await request(app)
      .post('/things/1')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ qty: 1, pad: 'x'.repeat(1024 * 1024) }));
    expect(res.status).toBe(413);
    expect(res.body.type).toBe('payload-too-large');
  });

  it('hides internals of unexpected errors', async () => {
    const res = await request(app).get('/boom');
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toMatch(/SELECT|password|driver|stack/);
    expect(res.body).toMatchObject({ type: 'internal', status: 500 });
  });

  it('writes typed errors with their status and headers', async () => {
    const res = await request(app).get('/conflict');
    expect(res.status).toBe(409);
    expect(res.headers['x-extra']).toBe('1');
    expect(res.body).toMatchObject({
      type: 'insufficient-stock',
      title: 'Insufficient stock',
      detail: 'Not enough.',
    });
  });

  it('answers unknown routes with 404 problem+json', async () => {
    const res = await request(app).get('/nope');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });
});

describe('health', () => {
  it('is healthy, degraded on a failing non-critical check, unhealthy on a critical one', async () => {
    let redisUp = true;
    let dbUp = true;
    const app = express();
    app.use(
      healthRouter({
        timeoutMs: 100,
        checks: {
          database: { run: () => (dbUp ? Promise.resolve() : Promise.reject(new Error('down'))) },
          redis: { critical: false, run: () => (redisUp ? Promise.resolve() : new Promise(() => undefined)) },
        },
      }),
    );
    expect((await request(app).get('/health/live')).body).toEqual({ status: 'ok' });
    let res = await request(app).get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('healthy');
    expect(res.body.checks.database).toMatchObject({ status: 'healthy' });
    expect(typeof res.body.checks.database.latency_ms).toBe('number');
    redisUp = false;
    res = await request(app).get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.checks.redis.detail).toMatch(/timed out/);
    dbUp = false;
    res = await request(app).get('/health/ready');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('unhealthy');
  });
});

describe('serve', () => {
  it('drains in-flight requests on shutdown before closing resources', async () => {
    const app = express();
    app.get('/slow', (_req, res) => {
      setTimeout(() => res.json({ done: true }), 300);
    });
    const order: string[] = [];
    const served = await serve(app, {
      port: 0,
      host: '127.0.0.1',
      logger: createNullLogger(),
      exit: false,
      signals: [],
      onShutdown: () => {
        order.push('resources closed');
        return Promise.resolve();
      },
    });
    const inflight = fetch(`http://127.0.0.1:${served.port}/slow`).then(async (r) => {
      order.push(`response ${r.status}`);
      return r.json();
    });
    await new Promise((r) => setTimeout(r, 50));
    const stopped = served.shutdown('test');
    expect(served.isShuttingDown()).toBe(true);
    await expect(inflight).resolves.toEqual({ done: true });
    await stopped;
    expect(order).toEqual(['response 200', 'resources closed']);
    await expect(fetch(`http://127.0.0.1:${served.port}/slow`)).rejects.toThrow();
  });
});
