import request from 'supertest';
import { ROUTES } from '@kv/api-contract';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { freePort, withUserAndDb } from '@kv/testing';
import { toOpenApiPath } from '../src/openapi';
import {
  createEnv,
  loginPlatform,
  nextIp,
  startStandIn,
  type Env,
  type Instance,
  type StandIn,
} from './helpers';

let env: Env;
let gw: Instance;
let upstream: StandIn;
let token: string;

const LEAKS =
  /\bat [\w.<>]+ \(|node_modules|stack|ECONNREFUSED|SELECT |INSERT |relation "|database "|syntax error|password authentication|kv_app|kv_system|pg_|Knex/i;

beforeAll(async () => {
  upstream = await startStandIn();
  env = await createEnv('security', {
    INVENTORY_URL: upstream.url,
    ACCOUNTING_URL: upstream.url,
    WORKER_URL: upstream.url,
    CORS_ORIGINS: 'https://app.example.test',
  });
  gw = await env.start();
  token = (await loginPlatform(gw.app)).access_token;
});

afterAll(async () => {
  await env.close();
  await upstream.close();
});

describe('request ids', () => {
  it('echoes a sane X-Request-Id and replaces anything else', async () => {
    const sane = await request(gw.app).get('/health/live').set('X-Request-Id', 'abc-123_XYZ:~!');
    expect(sane.headers['x-request-id']).toBe('abc-123_XYZ:~!');
    for (const bad of ['has space', 'x'.repeat(201), 'tab\there', 'ünïcode', '']) {
      const res = await request(gw.app).get('/health/live').set('X-Request-Id', bad);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const none = await request(gw.app).get('/v1/nope').set('X-Forwarded-For', nextIp());
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(none.body.request_id).toBe(none.headers['x-request-id']);
  });

  it('never reflects an injection attempt in X-Request-Id into the response or the services', async () => {
    const server = gw.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    const raw = (id: Buffer) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
        socket.on('error', reject);
        socket.write(
          Buffer.concat([
            Buffer.from(
              `GET /v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\nX-Request-Id: `,
            ),
            id,
            Buffer.from('\r\n\r\n'),
          ]),
        );
      });
    try {
      for (const id of [
        Buffer.from('evil id'),
        Buffer.from([0x61, 0xff, 0xfe, 0x62]),
        Buffer.from(`a${'\t'}Set-Cookie: x=1`),
      ]) {
        const text = await raw(id);
        const [head, body] = text.split('\r\n\r\n');
        expect(head).toMatch(/^HTTP\/1\.1 200/);
        const rid = /\r\nx-request-id: ([^\r]*)/i.exec(head!)?.[1];
        expect(rid).toMatch(/^[0-9a-f-]{36}$/);
        expect(head).not.toMatch(/set-cookie/i);
        expect(body).toContain(`"requestId":"${rid}"`);
      }
      // CR/LF or NUL inside a header value never reaches us: Node's parser answers 400 itself.
      const crlf = await raw(Buffer.from('abc\r\n\r\nHTTP/1.1 200 OK'));
      expect(crlf).not.toMatch(/HTTP\/1\.1 200 OK\r\n[\s\S]*HTTP\/1\.1 200 OK/);
      const nul = await raw(Buffer.from([0x61, 0x00, 0x62]));
      expect(nul).toMatch(/^HTTP\/1\.1 400/);
    } finally {
      server.close();
    }
  });
});

describe('bodies', () => {
  it('answers 413 problem+json for bodies over 1 MiB, on local and proxied routes', async () => {
    const big = { email: 'x@y.test', password: 'x'.repeat(1024 * 1024 + 10), roles: [] };
    const local = await request(gw.app).post('/v1/users').set('Authorization', `Bearer ${token}`).send(big);
    expect(local.status).toBe(413);
    expect(local.body).toMatchObject({ type: 'payload-too-large', status: 413 });
    const proxied = await request(gw.app)
      .post('/v1/products')
      .set('Authorization', `Bearer ${token}`)
      .send(big);
    expect(proxied.status).toBe(413);
    expect(proxied.headers['content-type']).toMatch(/problem\+json/);
    const login = await request(gw.app).post('/v1/auth/login').set('X-Forwarded-For', nextIp()).send(big);
    expect(login.status).toBe(413);
  });

  it('answers 400 with field errors for malformed JSON', async () => {
    const res = await request(gw.app)
      .post('/v1/auth/login')
      .set('X-Forwarded-For', nextIp())
      .set('Content-Type', 'application/json')
      .send('{"tenant": ');
    expect(res.status).toBe(400);
    expect(res.body.type).toBe('validation-error');
    expect(res.body.errors.length).toBeGreaterThan(0);
  });
});

describe('no internals in responses', () => {
  it('answers 503 without driver messages when the database is gone, and readiness says unhealthy without details', async () => {
    const broken = await env.start({
      DATABASE_URL: `postgres://kv_app@127.0.0.1:${await freePort()}/nowhere`,
    });
    const res = await request(broken.app).get('/v1/auth/me').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ type: 'unavailable', status: 503 });
    expect(res.text).not.toMatch(LEAKS);
    const users = await request(broken.app).get('/v1/users').set('Authorization', `Bearer ${token}`);
    expect(users.status).toBe(503);
    expect(users.text).not.toMatch(LEAKS);
    const ready = await request(broken.app).get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.database).toMatchObject({ status: 'unhealthy', detail: 'unreachable' });
    expect(ready.text).not.toMatch(LEAKS);
  });

  it('answers a generic 500 when the database is misconfigured', async () => {
    const broken = await env.start({
      DATABASE_URL: withUserAndDb(env.env.DATABASE_URL!, 'kv_app', 'no_such_database_xyz'),
    });
    const res = await request(broken.app).get('/v1/auth/me').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.body.detail).toMatch(
      /^(An unexpected error occurred\.|A dependency is unavailable; retry later\.)$/,
    );
    expect(res.text).not.toMatch(LEAKS);
  });

  it('keeps every error body a bare problem', async () => {
    const responses = await Promise.all([
      request(gw.app).get('/v1/users/not-a-uuid').set('Authorization', `Bearer ${token}`),
      request(gw.app).post('/v1/users').set('Authorization', `Bearer ${token}`).send({ email: 1 }),
      request(gw.app).get('/v1/users').set('Authorization', 'Bearer a.b.c'),
      request(gw.app).get('/v1/users?limit=abc').set('Authorization', `Bearer ${token}`),
      request(gw.app)
        .patch('/v1/users/00000000-0000-4000-8000-000000000000')
        .set('Authorization', `Bearer ${token}`)
        .send({ roles: 'x' }),
      request(gw.app).get('/nowhere'),
    ]);
    for (const res of responses) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(Object.keys(res.body).sort()).toEqual(
        expect.arrayContaining(['detail', 'request_id', 'status', 'title', 'type']),
      );
      expect(res.text).not.toMatch(LEAKS);
    }
  });

  it('sets helmet’s security headers and no X-Powered-By', async () => {
    const res = await request(gw.app).get('/v1/auth/me').set('Authorization', `Bearer ${token}`);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});

describe('CORS', () => {
  it('allows the configured origin, answers its preflight, and ignores others', async () => {
    const pre = await request(gw.app)
      .options('/v1/products')
      .set('Origin', 'https://app.example.test')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization, content-type');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example.test');
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/);
    const get = await request(gw.app)
      .get('/v1/auth/me')
      .set('Authorization', `Bearer ${token}`)
      .set('Origin', 'https://app.example.test');
    expect(get.headers['access-control-allow-origin']).toBe('https://app.example.test');
    expect(get.headers['access-control-expose-headers']).toMatch(/X-Request-Id/);
    const evil = await request(gw.app)
      .get('/v1/auth/me')
      .set('Authorization', `Bearer ${token}`)
      .set('Origin', 'https://evil.test');
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('API docs', () => {
  it('describes every route of ROUTES with request and response schemas in /openapi.json', async () => {
    const res = await request(gw.app).get('/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: { content: Record<string, { schema: unknown }> };
            responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
            parameters?: { name: string; in: string }[];
          }
        >
      >;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const route of ROUTES) {
      const op = doc.paths[toOpenApiPath(route.path)]?.[route.method];
      expect([route.method, route.path, op !== undefined]).toEqual([route.method, route.path, true]);
      if (route.body) expect(op!.requestBody!.content['application/json']!.schema).toBeDefined();
      for (const [status, schema] of Object.entries(route.responses)) {
        if (schema) expect(op!.responses[status]!.content!['application/json']!.schema).toBeDefined();
      }
      for (const name of route.path.match(/:(\w+)/g) ?? []) {
        expect(op!.parameters).toEqual(
          expect.arrayContaining([expect.objectContaining({ name: name.slice(1), in: 'path' })]),
        );
      }
    }
    const text = JSON.stringify(doc);
    for (const m of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g))
      expect(doc.components.schemas[m[1]!]).toBeDefined();
    expect(doc.components.schemas.Problem).toBeDefined();
    expect(doc.components.schemas.UserCreate).toBeDefined();
    expect(text).not.toContain('#/$defs/');
  });

  it('serves the interactive reference with self-hosted assets', async () => {
    const page = await request(gw.app).get('/docs');
    expect(page.status).toBe(200);
    expect(page.text).toContain('/docs/assets/swagger-ui-bundle.js');
    expect(page.text).not.toMatch(/https?:\/\//);
    const js = await request(gw.app).get('/docs/assets/swagger-ui-bundle.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    const css = await request(gw.app).get('/docs/assets/swagger-ui.css');
    expect(css.status).toBe(200);
    const init = await request(gw.app).get('/docs/init.js');
    expect(init.text).toContain('/openapi.json');
  });
});
