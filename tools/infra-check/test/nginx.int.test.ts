import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep, waitFor } from '@kv/testing';
import {
  headerCount,
  httpRequest,
  nginxAvailable,
  runLoad,
  startEchoUpstream,
  startNginx,
  testNginxConfig,
  writeNginxConfig,
  type EchoUpstream,
  type HttpResponse,
  type NginxOptions,
  type RunningNginx,
} from '../src';

// Real nginx in front of real HTTP processes. CI installs nginx (apt-get install nginx) before the tests.
if (!nginxAvailable())
  throw new Error('nginx is not installed: apt-get install -y nginx (CI does this in .ci/run)');

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-nginx-'));
const running: RunningNginx[] = [];
const upstreams: EchoUpstream[] = [];

afterAll(async () => {
  await Promise.all(running.map((n) => n.stop()));
  await Promise.all(upstreams.map((u) => u.kill()));
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

async function upstreamTrio(delays: [number, number, number] = [0, 0, 0]): Promise<EchoUpstream[]> {
  const trio = await Promise.all(
    (['a', 'b', 'c'] as const).map(async (name, i) => startEchoUpstream(name, await freePort(), delays[i])),
  );
  upstreams.push(...trio);
  return trio;
}

async function edge(trio: EchoUpstream[], options: Partial<NginxOptions> = {}): Promise<RunningNginx> {
  const nginx = await startNginx({
    prefix: fs.mkdtempSync(path.join(tmpRoot, 'edge-')),
    upstreams: trio.map((u) => u.address),
    listenHost: '127.0.0.1',
    listenPort: await freePort(),
    workerProcesses: 2,
    ...options,
  });
  running.push(nginx);
  return nginx;
}

const json = (res: HttpResponse) => JSON.parse(res.body) as Record<string, unknown>;
const isResponse = (r: HttpResponse | Error): r is HttpResponse => !(r instanceof Error);

/** Every response nginx sends carries these exactly once, errors included. */
function expectEdgeHeaders(res: HttpResponse): void {
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['x-frame-options']).toBe('DENY');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
  expect(res.headers['content-security-policy']).toBeTruthy();
  expect(res.headers['x-request-id']).toMatch(/^[!-~]{1,200}$/);
  for (const h of ['x-content-type-options', 'x-frame-options', 'content-security-policy', 'x-request-id'])
    expect(headerCount(res, h)).toBe(1);
  expect(res.headers['x-powered-by']).toBeUndefined();
}

function expectProblem(res: HttpResponse, status: number, type: string): Record<string, unknown> {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/problem+json');
  const body = json(res);
  expect(body).toMatchObject({ type, status });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(body.request_id).toBe(res.headers['x-request-id']);
  expectEdgeHeaders(res);
  return body;
}

describe('rendered config', () => {
  it.each([
    ['defaults', {}],
    ['edge limits off', { rateLimitRps: 0 }],
    [
      'trusted proxies and access log to a file',
      { realIpFrom: ['10.0.0.0/8', '::1'], accessLog: '/dev/null' },
    ],
  ])('passes nginx -t (%s)', (_name, extra) => {
    const written = writeNginxConfig({
      prefix: fs.mkdtempSync(path.join(tmpRoot, 't-')),
      upstreams: ['127.0.0.1:1', 'localhost:2', '[::1]:3'],
      listenPort: 18080,
      ...extra,
    });
    const result = testNginxConfig(written);
    expect(result.output).toContain('test is successful');
    expect(result.ok).toBe(true);
  });

  it('passes nginx -t with the TLS server block', () => {
    const prefix = fs.mkdtempSync(path.join(tmpRoot, 'tls-'));
    makeCertificate(prefix);
    const written = writeNginxConfig({
      prefix,
      upstreams: ['127.0.0.1:1'],
      listenPort: 18080,
      tls: { port: 18443, certificate: `${prefix}/tls.crt`, certificateKey: `${prefix}/tls.key` },
    });
    expect(testNginxConfig(written).ok).toBe(true);
  });
});

function makeCertificate(dir: string): void {
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
      '-keyout',
      `${dir}/tls.key`,
      '-out',
      `${dir}/tls.crt`,
    ]),
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
}

describe('load balancing and failover (edge limits off)', () => {
  it('loses no GET when a gateway is killed mid-load and balances the survivors (600 requests, 20 at once)', async () => {
    const trio = await upstreamTrio([2, 2, 2]);
    const nginx = await edge(trio, { rateLimitRps: 0 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    let killedAt = -1;
    const results = await runLoad(
      600,
      20,
      (i) => httpRequest(`${nginx.url}/v1/products?i=${i}`, { agent }),
      (done) => {
        if (done === 200 && killedAt < 0) {
          killedAt = done;
          void trio[0]!.kill();
        }
      },
    );
    agent.destroy();
    const errors = results.filter((r) => !isResponse(r));
    expect(errors).toEqual([]);
    const responses = results.filter(isResponse);
    expect(responses.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    const instances = responses.map((r) => json(r).instance as string);
    // Before the kill all three served; after it (allowing the 20 in flight) only b and c.
    const before = instances.slice(0, 180);
    const after = instances.slice(260);
    for (const name of ['a', 'b', 'c']) expect(before.filter((n) => n === name).length).toBeGreaterThan(20);
    expect(after.filter((n) => n === 'a')).toEqual([]);
    const b = after.filter((n) => n === 'b').length;
    const c = after.filter((n) => n === 'c').length;
    expect(Math.min(b, c) / Math.max(b, c)).toBeGreaterThan(0.6);
    for (const r of responses.slice(0, 50)) expectEdgeHeaders(r);
  });

  it('least_conn sends fewer requests to a slow gateway than round robin would', async () => {
    const trio = await upstreamTrio([60, 3, 3]);
    const nginx = await edge(trio, { rateLimitRps: 0 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 12 });
    const results = await runLoad(300, 12, () => httpRequest(`${nginx.url}/v1/stock`, { agent }));
    agent.destroy();
    const instances = results.filter(isResponse).map((r) => json(r).instance);
    expect(instances).toHaveLength(300);
    const slow = instances.filter((n) => n === 'a').length;
    // Round robin would give the slow one 100 of 300.
    expect(slow).toBeLessThan(60);
    const b = instances.filter((n) => n === 'b').length;
    const c = instances.filter((n) => n === 'c').length;
    expect(Math.min(b, c) / Math.max(b, c)).toBeGreaterThan(0.6);
  });

  it('retries a GET on another gateway when one drops the connection, but never re-sends a POST', async () => {
    const trio = await upstreamTrio();
    const nginx = await edge(trio, { rateLimitRps: 0 });
    const gets = [];
    for (let i = 0; i < 6; i++) gets.push(await httpRequest(`${nginx.url}/crash?on=a&get=${i}`));
    expect(gets.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    await waitFor(() => trio[0]!.seen.some((s) => s.method === 'GET' && s.path === '/crash'));

    const nginx2 = await edge(await upstreamTrio(), { rateLimitRps: 0 });
    const fresh = upstreams.slice(-3);
    const posts: HttpResponse[] = [];
    for (let i = 0; i < 6; i++)
      posts.push(
        await httpRequest(`${nginx2.url}/crash?on=a`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': `post-${i}` },
          body: '{"sku":"X"}',
        }),
      );
    await sleep(200);
    const seenBy = (id: string) =>
      fresh.filter((u) => u.seen.some((s) => s.request_id === id && s.method === 'POST')).map((u) => u.name);
    let crashed = 0;
    for (let i = 0; i < 6; i++) {
      const res = posts[i]!;
      // Each POST reached exactly one gateway: nginx did not re-send it after a failure.
      expect(seenBy(`post-${i}`)).toHaveLength(1);
      if (seenBy(`post-${i}`)[0] === 'a') {
        crashed++;
        expectProblem(res, 503, 'unavailable');
        expect(res.headers['retry-after']).toBe('1');
      } else expect(res.status).toBe(200);
    }
    expect(crashed).toBeGreaterThan(0);
  });

  it("passes a gateway's own 503 through without retrying it or taking gateways out of the pool", async () => {
    const trio = await upstreamTrio();
    const nginx = await edge(trio, { rateLimitRps: 0 });
    for (let i = 0; i < 12; i++) {
      const res = await httpRequest(`${nginx.url}/dep-down`, { headers: { 'x-request-id': `dd-${i}` } });
      expect(res.status).toBe(503);
      expect(json(res).detail).toMatch(/answered by [abc]/);
    }
    await sleep(200);
    for (let i = 0; i < 12; i++)
      expect(trio.filter((u) => u.seen.some((s) => s.request_id === `dd-${i}`))).toHaveLength(1);
    const after = [];
    for (let i = 0; i < 30; i++) after.push(await httpRequest(`${nginx.url}/v1/stock`));
    expect(after.every((r) => r.status === 200)).toBe(true);
    expect(new Set(after.map((r) => json(r).instance))).toEqual(new Set(['a', 'b', 'c']));
  });

  it('answers 503 problem+json unavailable when every gateway is dead', async () => {
    const trio = await upstreamTrio();
    const nginx = await edge(trio, { rateLimitRps: 0 });
    expect((await httpRequest(`${nginx.url}/v1/stock`)).status).toBe(200);
    await Promise.all(trio.map((u) => u.kill()));
    const get = await httpRequest(`${nginx.url}/v1/stock`, { headers: { 'x-request-id': 'all-dead-1' } });
    const body = expectProblem(get, 503, 'unavailable');
    expect(body.request_id).toBe('all-dead-1');
    expect(body.title).toBe('Service unavailable');
    expect(get.headers['retry-after']).toBe('1');
    const post = await httpRequest(`${nginx.url}/v1/products`, { method: 'POST', body: '{}' });
    expectProblem(post, 503, 'unavailable');
    await trio[1]!.start();
    // fail_timeout passes, then the revived gateway serves again.
    await waitFor(async () => (await httpRequest(`${nginx.url}/v1/stock`)).status === 200, 15_000, 250);
  });
});

describe('what nginx forwards and answers', () => {
  let trio: EchoUpstream[];
  let nginx: RunningNginx;
  beforeAll(async () => {
    trio = await upstreamTrio();
    nginx = await edge(trio, { rateLimitRps: 0 });
  });

  it("forwards the client's sane X-Request-Id and echoes it once on the response", async () => {
    const res = await httpRequest(`${nginx.url}/v1/stock`, { headers: { 'x-request-id': 'client-id_42:x' } });
    expect(json(res).request_id).toBe('client-id_42:x');
    expect(res.headers['x-request-id']).toBe('client-id_42:x');
    expectEdgeHeaders(res);
  });

  it('replaces a missing or insane X-Request-Id with its own, the same value upstream and on the response', async () => {
    const cases: Record<string, string>[] = [
      {},
      { 'x-request-id': 'has space' },
      { 'x-request-id': 'x'.repeat(201) },
    ];
    for (const headers of cases) {
      const res = await httpRequest(`${nginx.url}/v1/stock`, { headers });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
      expect(json(res).request_id).toBe(res.headers['x-request-id']);
    }
  });

  it('keeps an id with a quote on proxied responses and replaces it in its own JSON errors', async () => {
    const ok = await httpRequest(`${nginx.url}/v1/stock`, { headers: { 'x-request-id': 'a"b' } });
    expect(ok.headers['x-request-id']).toBe('a"b');
    const big = await httpRequest(`${nginx.url}/v1/products`, {
      method: 'POST',
      headers: { 'x-request-id': 'a"b', 'content-type': 'application/json' },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    });
    const body = expectProblem(big, 413, 'payload-too-large');
    expect(body.request_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('appends the client address to X-Forwarded-For and sets X-Real-IP and X-Forwarded-Proto', async () => {
    const res = await httpRequest(`${nginx.url}/v1/stock`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(json(res)).toMatchObject({
      xff: '203.0.113.9, 127.0.0.1',
      real_ip: '127.0.0.1',
      proto: 'http',
      http_version: '1.1',
    });
    // Keep-alive to the gateways: nginx sends no `Connection: close`.
    expect(json(res).connection).toBeNull();
  });

  it("hides the gateway's duplicate security headers but keeps its Content-Security-Policy for /docs", async () => {
    const docs = await httpRequest(`${nginx.url}/docs`);
    expect(docs.headers['content-security-policy']).toBe(
      "default-src 'self'; script-src 'self' 'unsafe-inline'",
    );
    expectEdgeHeaders(docs);
    const api = await httpRequest(`${nginx.url}/v1/stock`);
    expect(api.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    expectEdgeHeaders(api);
  });

  it('answers 413 problem+json for a 2 MiB body (with or without Content-Length) without reaching a gateway', async () => {
    const withLength = await httpRequest(`${nginx.url}/v1/journal-entries`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'too-big-1' },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    });
    const body = expectProblem(withLength, 413, 'payload-too-large');
    expect(body).toMatchObject({ title: 'Payload too large', request_id: 'too-big-1' });
    const chunked = await httpRequest(`${nginx.url}/v1/journal-entries`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'transfer-encoding': 'chunked',
        'x-request-id': 'too-big-2',
      },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    });
    expectProblem(chunked, 413, 'payload-too-large');
    // A body of exactly 1 MiB is still accepted.
    const limit = await httpRequest(`${nginx.url}/v1/journal-entries`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'one-mib' },
      body: Buffer.alloc(1024 * 1024, 0x20),
    });
    expect(limit.status).toBe(200);
    expect(json(limit).bytes).toBe(1024 * 1024);
    const seen = (id: string) => trio.some((u) => u.seen.some((s) => s.request_id === id));
    await waitFor(() => seen('one-mib'));
    expect(seen('too-big-1') || seen('too-big-2')).toBe(false);
  });

  it('serves the same routes over TLS with HSTS', async () => {
    const prefix = fs.mkdtempSync(path.join(tmpRoot, 'tls-live-'));
    makeCertificate(prefix);
    const tlsPort = await freePort();
    const tlsEdge = await edge(trio, {
      prefix,
      rateLimitRps: 0,
      tls: { port: tlsPort, certificate: `${prefix}/tls.crt`, certificateKey: `${prefix}/tls.key` },
    });
    const res = await httpRequest(`https://127.0.0.1:${tlsPort}/v1/stock`, { insecure: true });
    expect(res.status).toBe(200);
    expect(json(res).proto).toBe('https');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expectEdgeHeaders(res);
    expect(
      (await httpRequest(`${tlsEdge.url}/v1/stock`)).headers['strict-transport-security'],
    ).toBeUndefined();
  });
});

describe('edge rate limits', () => {
  it('answers 429 problem+json with Retry-After past the per-IP rate, but never limits health, metrics or docs', async () => {
    const trio = await upstreamTrio();
    const nginx = await edge(trio, { rateLimitRps: 2, rateLimitBurst: 3 });
    const results = await runLoad(30, 30, () => httpRequest(`${nginx.url}/v1/stock`));
    const responses = results.filter(isResponse);
    expect(responses).toHaveLength(30);
    const limited = responses.filter((r) => r.status === 429);
    const ok = responses.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length).toBeLessThanOrEqual(5);
    expect(limited.length).toBe(30 - ok.length);
    for (const r of limited) {
      expectProblem(r, 429, 'rate-limited');
      expect(r.headers['retry-after']).toBe('1');
    }
    for (const p of ['/health/live', '/health/ready', '/metrics', '/docs', '/openapi.json']) {
      const exempt = await runLoad(20, 20, () => httpRequest(`${nginx.url}${p}`));
      expect(exempt.filter(isResponse).map((r) => r.status)).toEqual(new Array(20).fill(200));
    }
  });

  it('caps open connections per IP with 429 too', async () => {
    const trio = await upstreamTrio();
    const nginx = await edge(trio, { rateLimitRps: 1000, rateLimitBurst: 1000, connLimitPerIp: 2 });
    const results = await runLoad(6, 6, () => httpRequest(`${nginx.url}/v1/slow?ms=400`));
    const statuses = results.filter(isResponse).map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBe(2);
    expect(statuses.filter((s) => s === 429).length).toBe(4);
  });
});
