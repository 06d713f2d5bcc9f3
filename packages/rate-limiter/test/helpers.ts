import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorHandler, requestId } from '@kv/http';
import express, { type RequestHandler } from 'express';
import Redis from 'ioredis';
import { rateLimitResults } from '../src/express';

type HttpLogger = Parameters<typeof errorHandler>[0];

/** Collects what the error handler logs (a 500 would show up here). */
export function testLogger(lines: string[] = []): HttpLogger {
  const logger: HttpLogger = {
    error: (message) => void lines.push(`error: ${message}`),
    warn: (message) => void lines.push(`warn: ${message}`),
    info: () => undefined,
    debug: () => undefined,
    child: () => logger,
  };
  return logger;
}

/**
 * A minimal app the way the gateway composes one: request id, a stand-in for authentication (the test sends
 * the identity in `x-test-tenant`/`x-test-user`; the real gateway verifies a JWT), the limiters, routes, and
 * the problem+json error handler.
 */
export function makeApp(
  limiters: RequestHandler[],
  options: { loginLimiter?: RequestHandler; logs?: string[] } = {},
): express.Express {
  const app = express();
  app.use(requestId());
  app.use((req, res, next) => {
    const tenantId = req.headers['x-test-tenant'];
    const userId = req.headers['x-test-user'];
    if (typeof tenantId === 'string' && typeof userId === 'string')
      res.locals.identity = { tenantId, userId };
    next();
  });
  app.use(limiters);
  if (options.loginLimiter) {
    app.post('/v1/auth/login', options.loginLimiter, (_req, res) => {
      res.json({ ok: 'login' });
    });
  }
  app.get('/v1/things', (_req, res) => {
    res.json({ ok: true, limits: rateLimitResults(res).map((r) => r.name) });
  });
  app.use(errorHandler(testLogger(options.logs)));
  return app;
}

/** Reads the identity the stand-in authentication put in `res.locals`. */
export function identityOf(res: express.Response): { tenantId: string; userId: string } | undefined {
  return (res.locals as { identity?: { tenantId: string; userId: string } }).identity;
}

export interface Listening {
  url: string;
  agent: http.Agent;
  close(): Promise<void>;
}

/** Serves `app` on a free port of 127.0.0.1 with a keep-alive agent for it. */
export async function listen(app: express.Express): Promise<Listening> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  return {
    url: `http://127.0.0.1:${port}`,
    agent,
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function get(
  target: Listening,
  path: string,
  headers: Record<string, string> = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${target.url}${path}`, { agent: target.agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A Redis client for the limiter the way toolchain.md prescribes: no offline queue, at most one retry and
 * a command timeout, so a dead Redis fails fast instead of queueing requests. Reconnects every 50 ms.
 */
export async function limiterClient(url: string): Promise<Redis> {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 300,
    retryStrategy: () => 50,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', reject);
    });
  } catch (error) {
    client.disconnect();
    throw error;
  }
  client.on('error', () => undefined);
  return client;
}
