import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { loadConfig } from '@kv/config';
import { errorHandler, jsonBody, requestId } from '@kv/http';
import { createNullLogger } from '@kv/logger';
import { createTestDatabase, DEFAULT_REDIS_URL, uniquePrefix, type TestDatabase } from '@kv/testing';
import { createIdentityCodec, requireContext } from '@kv/tenant-context';
import { requireIdentity } from '@kv/tenant-context/express';
import { createApp } from '../src/app';
import { configSchema, type Config } from '../src/config';
import { createDeps, type DepsOptions, type GatewayDeps } from '../src/deps';

export const INTERNAL_SECRET = 'internal-secret-for-gateway-tests-0123456789';
export const JWT_SECRET = 'jwt-secret-for-gateway-tests-0123456789abcdef';
export const ADMIN_EMAIL = 'root@platform.test';
export const ADMIN_PASSWORD = 'platform-admin-pass';

/** One gateway instance: its deps and app. */
export interface Instance {
  deps: GatewayDeps;
  app: express.Express;
}

/** A test database + Redis prefix shared by any number of gateway instances. */
export interface Env {
  db: TestDatabase;
  prefix: string;
  env: Record<string, string>;
  instances: Instance[];
  /** Starts one more gateway instance on the same database and Redis prefix. */
  start(overrides?: Record<string, string>, options?: DepsOptions): Promise<Instance>;
  close(): Promise<void>;
}

/** Builds a config from env-style overrides (the same parser `main.ts` uses). */
export function configFrom(env: Record<string, string>): Config {
  return loadConfig(configSchema, env);
}

/** A fresh database and Redis prefix; `start()` creates gateway instances sharing them. */
export async function createEnv(label: string, base: Record<string, string> = {}): Promise<Env> {
  const db = await createTestDatabase(`gw_${label}`);
  const prefix = uniquePrefix(`gw${label.replace(/[^a-z0-9]/gi, '')}`);
  const env: Record<string, string> = {
    DATABASE_URL: db.urls.app,
    DATABASE_OWNER_URL: db.urls.owner,
    DATABASE_SYSTEM_URL: db.urls.system,
    REDIS_URL: DEFAULT_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    INTERNAL_SECRET,
    JWT_SECRET,
    PLATFORM_ADMIN_EMAIL: ADMIN_EMAIL,
    PLATFORM_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LOG_LEVEL: 'error',
    // The PostgreSQL cluster is shared by every test file running at once: stay small.
    DB_POOL_MAX: '5',
    ...base,
  };
  const instances: Instance[] = [];
  const self: Env = {
    db,
    prefix,
    env,
    instances,
    async start(overrides = {}, options = {}) {
      const deps = await createDeps(configFrom({ ...env, ...overrides }), {
        logger: createNullLogger(),
        scrypt: { N: 1024, r: 8, p: 1 },
        queues: false,
        ...options,
      });
      const instance = { deps, app: createApp(deps) };
      instances.push(instance);
      return instance;
    },
    async close() {
      await Promise.allSettled(instances.map((i) => i.deps.close()));
      await db.drop();
    },
  };
  return self;
}

/** Tokens from a login. */
export interface Tokens {
  access_token: string;
  refresh_token: string;
}

let ipCounter = 0;
/** A distinct fake client IP (sent as X-Forwarded-For from the trusted loopback) so tests do not share IP limits. */
export function nextIp(): string {
  ipCounter += 1;
  return `198.18.${Math.floor(ipCounter / 250) % 250}.${(ipCounter % 250) + 1}`;
}

/** Logs in; fails the test unless 200. */
export async function login(
  app: express.Express,
  tenant: string,
  email: string,
  password: string,
): Promise<Tokens> {
  const res = await request(app)
    .post('/v1/auth/login')
    .set('X-Forwarded-For', nextIp())
    .send({ tenant, email, password });
  if (res.status !== 200)
    throw new Error(`login ${email}@${tenant} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Tokens;
}

/** The platform admin's tokens. */
export function loginPlatform(app: express.Express): Promise<Tokens> {
  return login(app, 'platform', ADMIN_EMAIL, ADMIN_PASSWORD);
}

/** Creates a tenant with an admin through the API; returns its id. */
export async function createTenant(
  app: express.Express,
  platformToken: string,
  slug: string,
  adminEmail: string,
  adminPassword: string,
): Promise<string> {
  const res = await request(app)
    .post('/v1/platform/tenants')
    .set('Authorization', `Bearer ${platformToken}`)
    .send({ slug, name: `Tenant ${slug}`, admin: { email: adminEmail, password: adminPassword } });
  if (res.status !== 201) throw new Error(`create tenant ${slug}: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { id: string }).id;
}

/** Creates a user through the API; returns its id. */
export async function createUser(
  app: express.Express,
  adminToken: string,
  user: { email: string; password: string; roles: string[]; attributes?: Record<string, unknown> },
): Promise<string> {
  const res = await request(app).post('/v1/users').set('Authorization', `Bearer ${adminToken}`).send(user);
  if (res.status !== 201)
    throw new Error(`create user ${user.email}: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { id: string }).id;
}

/** Signs an arbitrary JWT with the test secret (for forged/expired/wrong-claim tokens). */
export function signRaw(
  payload: Record<string, unknown>,
  options: jwt.SignOptions = {},
  secret = JWT_SECRET,
): string {
  return jwt.sign(payload, secret, { algorithm: 'HS256', ...options });
}

/** What the echo upstream saw. */
export interface Echo {
  method: string;
  path: string;
  identity: {
    tenantId: string;
    userId: string | null;
    roles: string[];
    permissions: string[];
    attributes: Record<string, unknown>;
    requestId: string;
  };
  headers: Record<string, string | undefined>;
  body: unknown;
}

/** A real HTTP server standing in for a service: verifies the forwarded identity and echoes what it got. */
export interface StandIn {
  url: string;
  port: number;
  server: Server;
  hits: number;
  /** Per-request behaviour override (return true when handled). */
  behaviour?: (req: express.Request, res: express.Response) => boolean;
  close(): Promise<void>;
  /** Listens again on the same port (after close). */
  reopen(): Promise<void>;
}

/** Starts a stand-in upstream on `port` (0 = any). */
export async function startStandIn(port = 0): Promise<StandIn> {
  const codec = createIdentityCodec({ secret: INTERNAL_SECRET });
  const app = express();
  const self = { hits: 0 } as StandIn;
  app.use(requestId());
  app.use((req, res, next) => {
    self.hits += 1;
    if (self.behaviour?.(req, res)) return;
    next();
  });
  app.use(requireIdentity(codec));
  app.use(jsonBody());
  app.all('/*splat', (req, res) => {
    const echo: Echo = {
      method: req.method,
      path: req.originalUrl,
      identity: requireContext() as unknown as Echo['identity'],
      headers: {
        'x-request-id': req.headers['x-request-id'] as string | undefined,
        'idempotency-key': req.headers['idempotency-key'] as string | undefined,
        authorization: req.headers.authorization,
        'x-forwarded-for': req.headers['x-forwarded-for'] as string | undefined,
        cookie: req.headers.cookie,
      },
      body: req.body as unknown,
    };
    res.status(req.method === 'POST' ? 201 : 200).json(echo);
  });
  app.use(errorHandler(createNullLogger()));
  const listen = (p: number) =>
    new Promise<Server>((resolve) => {
      const s = app.listen(p, '127.0.0.1', () => resolve(s));
    });
  self.server = await listen(port);
  self.port = (self.server.address() as AddressInfo).port;
  self.url = `http://127.0.0.1:${self.port}`;
  self.close = () =>
    new Promise<void>((resolve) => {
      self.server.close(() => resolve());
      self.server.closeAllConnections();
    });
  self.reopen = async () => {
    self.server = await listen(self.port);
  };
  return self;
}
