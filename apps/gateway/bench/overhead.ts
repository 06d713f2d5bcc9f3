/**
 * Gateway overhead benchmark (not a test): throughput and p99 latency of a cheap proxied route
 * (`GET /v1/products`) through the full gateway stack (request id, metrics, helmet, CORS, JWT verification,
 * revocation check, user + tenant rate limits in Redis, RBAC, signed identity, keep-alive proxy) versus a bare
 * Express proxy to the same upstream, measured in the same run. Target: gateway >= 0.7 x bare.
 *
 * Needs the local PostgreSQL and Redis (like the integration tests). Run: `pnpm --filter @kv/gateway bench`.
 * The two run alternately, BENCH_ROUNDS times (default 3) for BENCH_DURATION_S each (default 5), so that
 * noise from other work on the machine hits both alike; the medians are compared.
 * Env: BENCH_DURATION_S, BENCH_ROUNDS, BENCH_CONNECTIONS (default 50).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import express from 'express';
import { loadConfig } from '@kv/config';
import { createNullLogger } from '@kv/logger';
import { createTestDatabase, DEFAULT_REDIS_URL, deleteKeys, uniquePrefix } from '@kv/testing';
import { createApp } from '../src/app';
import { configSchema } from '../src/config';
import { createDeps } from '../src/deps';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const PATH = process.env.BENCH_PATH ?? '/v1/products';
const UPSTREAM_BODY = JSON.stringify({ data: [], next_cursor: null });

/** The upstream runs in its own process so it does not compete with the proxy under test for one core. */
function startUpstream(): Promise<{ port: number; stop: () => void }> {
  const code = `
    const http = require('node:http');
    const body = ${JSON.stringify(UPSTREAM_BODY)};
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    server.keepAliveTimeout = 65000;
    server.listen(0, '127.0.0.1', () => process.send(server.address().port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve) =>
    child.once('message', (port) => resolve({ port: Number(port), stop: () => child.kill() })),
  );
}

function listen(app: express.Express): Promise<{ port: number; server: http.Server }> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () =>
      resolve({ port: (server.address() as AddressInfo).port, server }),
    );
    server.keepAliveTimeout = 65_000;
  });
}

/** The baseline: Express with one route that pipes to the upstream over a keep-alive agent. */
function bareProxy(upstreamPort: number): express.Express {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const app = express();
  app.get('/v1/products', (req, res) => {
    const out = http.request(
      {
        agent,
        host: '127.0.0.1',
        port: upstreamPort,
        method: 'GET',
        path: req.originalUrl,
        headers: { accept: 'application/json' },
      },
      (up) => {
        res.status(up.statusCode ?? 502);
        if (up.headers['content-type']) res.setHeader('content-type', up.headers['content-type']);
        if (up.headers['content-length']) res.setHeader('content-length', up.headers['content-length']);
        up.pipe(res);
      },
    );
    out.on('error', () => res.status(503).end());
    out.end();
  });
  return app;
}

async function run(
  name: string,
  port: number,
  headers: Record<string, string>,
  warmUp: boolean,
): Promise<autocannon.Result> {
  const base = {
    url: `http://127.0.0.1:${port}${name === 'bare' ? '/v1/products' : PATH}`,
    connections: CONNECTIONS,
    headers,
    workers: 1,
  };
  if (warmUp) await autocannon({ ...base, duration: 2 }); // JIT, pools, caches
  const result = await autocannon({ ...base, duration: DURATION_S });
  const bad = result.non2xx + result.errors + result.timeouts;
  process.stdout.write(
    `${name.padEnd(8)} ${result.requests.average.toFixed(0).padStart(7)} req/s   p50 ${String(result.latency.p50).padStart(4)} ms   p99 ${String(result.latency.p99).padStart(4)} ms   non-2xx/errors ${bad}\n`,
  );
  if (bad > 0) throw new Error(`${name}: ${bad} failed requests`);
  return result;
}

async function main(): Promise<void> {
  const upstream = await startUpstream();
  const db = await createTestDatabase('gw_bench');
  const prefix = uniquePrefix('gwbench');
  const config = loadConfig(configSchema, {
    DATABASE_URL: db.urls.app,
    DATABASE_OWNER_URL: db.urls.owner,
    DATABASE_SYSTEM_URL: db.urls.system,
    REDIS_URL: DEFAULT_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    INTERNAL_SECRET: 'bench-internal-secret-0123456789abcdef',
    JWT_SECRET: 'bench-jwt-secret-0123456789abcdefghijk',
    PLATFORM_ADMIN_EMAIL: 'bench@platform.local',
    PLATFORM_ADMIN_PASSWORD: 'bench-admin-password',
    INVENTORY_URL: `http://127.0.0.1:${upstream.port}`,
    RATE_LIMIT_USER_PER_MIN: '100000000',
    RATE_LIMIT_TENANT_PER_MIN: '100000000',
    LOG_LEVEL: 'error',
  });
  const deps = await createDeps(config, { logger: createNullLogger(), queues: false });
  const gateway = await listen(createApp(deps));
  const bare = await listen(bareProxy(upstream.port));
  try {
    const loginRes = await fetch(`http://127.0.0.1:${gateway.port}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        tenant: 'platform',
        email: 'bench@platform.local',
        password: 'bench-admin-password',
      }),
    });
    const { access_token: token } = (await loginRes.json()) as { access_token: string };
    process.stdout.write(
      `GET /v1/products, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${DURATION_S} s (after 2 s warm-ups)\n`,
    );
    const bares: autocannon.Result[] = [];
    const gateways: autocannon.Result[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      bares.push(await run('bare', bare.port, {}, round === 0));
      gateways.push(await run('gateway', gateway.port, { authorization: `Bearer ${token}` }, round === 0));
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const bRps = median(bares.map((r) => r.requests.average));
    const gRps = median(gateways.map((r) => r.requests.average));
    const bP99 = median(bares.map((r) => r.latency.p99));
    const gP99 = median(gateways.map((r) => r.latency.p99));
    const ratios = gateways.map((g, i) => g.requests.average / bares[i]!.requests.average);
    const ratio = gRps / bRps;
    process.stdout.write(
      `median   bare ${bRps.toFixed(0)} req/s p99 ${bP99} ms | gateway ${gRps.toFixed(0)} req/s p99 ${gP99} ms\n` +
        `ratio    ${ratio.toFixed(2)} x throughput (per round ${ratios.map((r) => r.toFixed(2)).join(', ')}; target >= 0.70)  ${ratio >= 0.7 ? 'OK' : 'BELOW TARGET'}\n`,
    );
  } finally {
    gateway.server.close();
    bare.server.close();
    gateway.server.closeAllConnections();
    bare.server.closeAllConnections();
    const redis = deps.redis;
    await deleteKeys(redis, prefix).catch(() => undefined);
    await deps.close();
    await db.drop();
    upstream.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
