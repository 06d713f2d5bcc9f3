import request from 'supertest';
import { freePort, sleep, waitFor } from '@kv/testing';
import {
  createEnv,
  loginPlatform,
  startStandIn,
  type Echo,
  type Env,
  type Instance,
  type StandIn,
} from './helpers';

let env: Env;
let gw: Instance;
let inventory: StandIn;
let accounting: StandIn;
let token: string;
const auth = () => ({ Authorization: `Bearer ${token}` });

beforeAll(async () => {
  inventory = await startStandIn();
  accounting = await startStandIn();
  env = await createEnv('proxy', {
    INVENTORY_URL: inventory.url,
    ACCOUNTING_URL: accounting.url,
    WORKER_URL: `http://127.0.0.1:${await freePort()}`,
    BREAKER_FAILURE_THRESHOLD: '3',
    BREAKER_OPEN_MS: '500',
    UPSTREAM_TIMEOUT_MS: '1000',
    RATE_LIMIT_USER_PER_MIN: '100000',
    RATE_LIMIT_TENANT_PER_MIN: '100000',
  });
  gw = await env.start();
  token = (await loginPlatform(gw.app)).access_token;
});

afterAll(async () => {
  await env.close();
  await Promise.allSettled([inventory.close(), accounting.close()]);
});

afterEach(() => {
  inventory.behaviour = undefined;
});

describe('routing', () => {
  it('proxies 1:1 with method, path, query and body, and passes problem+json through', async () => {
    const get = await request(gw.app).get('/v1/products?limit=5&cursor=abc').set(auth());
    expect(get.status).toBe(200);
    expect((get.body as Echo).path).toBe('/v1/products?limit=5&cursor=abc');
    inventory.behaviour = (_req, res) => {
      res
        .status(409)
        .type('application/problem+json')
        .send(
          JSON.stringify({
            type: 'insufficient-stock',
            title: 'Insufficient stock',
            status: 409,
            detail: 'Only 2 left.',
            request_id: 'x',
          }),
        );
      return true;
    };
    const conflict = await request(gw.app).post('/v1/reservations').set(auth()).send({ lines: [] });
    expect(conflict.status).toBe(409);
    expect(conflict.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(conflict.body.type).toBe('insufficient-stock');
  });

  it('replaces a non-problem 5xx from a service with a generic problem (no internals)', async () => {
    inventory.behaviour = (_req, res) => {
      res
        .status(500)
        .type('text/html')
        .send('<pre>Error: connect ECONNREFUSED 10.0.0.5:5432\n    at TCPConnectWrap.afterConnect</pre>');
      return true;
    };
    const res = await request(gw.app).get('/v1/products').set(auth());
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ type: 'internal', status: 500 });
    expect(res.text).not.toMatch(/ECONNREFUSED|TCPConnect|5432/);
  });

  it('retries an idempotent request once after a connection reset, never a POST without Idempotency-Key', async () => {
    let n = 0;
    inventory.behaviour = (req) => {
      n += 1;
      if (n === 1) {
        req.socket.destroy();
        return true;
      }
      return false;
    };
    const get = await request(gw.app).get('/v1/warehouses').set(auth());
    expect(get.status).toBe(200);
    expect(n).toBe(2);

    n = 0;
    const post = await request(gw.app).post('/v1/warehouses').set(auth()).send({ code: 'A', name: 'A' });
    expect(post.status).toBe(503);
    expect(post.body.type).toBe('unavailable');
    expect(n).toBe(1);

    n = 0;
    const keyed = await request(gw.app)
      .post('/v1/warehouses')
      .set(auth())
      .set('Idempotency-Key', 'retry-me')
      .send({ code: 'A', name: 'A' });
    expect(keyed.status).toBe(201);
    expect((keyed.body as Echo).headers['idempotency-key']).toBe('retry-me');
    expect(n).toBe(2);
  });

  it('answers 503 when a service does not answer in time', async () => {
    inventory.behaviour = () => true; // never answers
    const started = Date.now();
    const res = await request(gw.app).get('/v1/stock').set(auth());
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(3000);
    inventory.behaviour = undefined;
    // The timeout counted as one failure; a success resets the count.
    expect((await request(gw.app).get('/v1/stock').set(auth())).status).toBe(200);
  });
});

describe('circuit breaker', () => {
  it('opens after repeated failures (503 fast, no upstream call), probes when half-open and recovers when the service returns', async () => {
    await accounting.close();
    for (let i = 0; i < 3; i++) {
      const res = await request(gw.app).get('/v1/accounts').set(auth());
      expect(res.status).toBe(503);
    }
    const started = performance.now();
    const fast = await request(gw.app).get('/v1/accounts').set(auth());
    expect(fast.status).toBe(503);
    expect(fast.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(fast.body).toMatchObject({ type: 'unavailable', status: 503 });
    expect(fast.headers['retry-after']).toMatch(/^\d+$/);
    expect(performance.now() - started).toBeLessThan(100);
    const metrics = await request(gw.app).get('/metrics');
    expect(metrics.text).toMatch(/gateway_circuit_state\{[^}]*upstream="accounting"[^}]*\} 2/);
    const health = await request(gw.app).get('/health/ready');
    expect(health.status).toBe(200);
    expect(health.body.checks.accounting.status).toBe('degraded');
    // Other upstreams are unaffected.
    expect((await request(gw.app).get('/v1/products').set(auth())).status).toBe(200);

    // Half-open while still down: the probe fails and the circuit opens again.
    await sleep(600);
    const hits = accounting.hits;
    expect((await request(gw.app).get('/v1/accounts').set(auth())).status).toBe(503);
    expect((await request(gw.app).get('/v1/accounts').set(auth())).status).toBe(503);
    expect(accounting.hits).toBe(hits);

    await accounting.reopen();
    await waitFor(
      async () => (await request(gw.app).get('/v1/accounts').set(auth())).status === 200,
      5000,
      100,
    );
    expect((await request(gw.app).get('/v1/trial-balance').set(auth())).status).toBe(200);
    expect((await request(gw.app).get('/metrics')).text).toMatch(
      /gateway_circuit_state\{[^}]*upstream="accounting"[^}]*\} 0/,
    );
  });

  it('answers 503 problem+json quickly when a service is not running at all', async () => {
    const res = await request(gw.app).get('/v1/admin/failed-jobs').set(auth());
    expect(res.status).toBe(503);
    expect(res.body.type).toBe('unavailable');
  });
});
