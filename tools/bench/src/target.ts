import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { loadConfig } from '@kv/config';
import { ROOT, stackConfigSchema, startStack } from '@kv/stack';
import { DEFAULT_ADMIN_URL, freePort, withUserAndDb } from '@kv/testing';
import type { BenchDb } from './db';
import { listProcs, withChildren, type ProcGroup } from './procs';

/** What the scenarios run against. */
export interface Target {
  /** Public base URL (nginx in front of the gateways). */
  base: string;
  /** Database access; undefined when targeting a stack without BENCH_DATABASE_URL. */
  db: BenchDb | undefined;
  /** Redis URL for the peer baseline's locks, and the key prefix to use. */
  redis: { url: string; prefix: string };
  admin: { email: string; password: string };
  /** Processes to measure (empty groups when targeting a stack this run did not start). */
  groups: ProcGroup[];
  describe: string;
  gateways: number;
  stop(): Promise<void>;
}

/** The same server and user on another database. */
function onDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Limits high enough that the bench is never throttled, while every request still goes through the limiter. */
export const UNTHROTTLED = '1000000000';

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

/** A private redis-server on a free port (no persistence), so the bench's queues and keys meet nobody else's. */
async function startRedisServer(): Promise<{ port: number; url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  for (let i = 0; ; i++) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch {
      probe.disconnect();
      if (i > 100 || child.exitCode !== null)
        throw new Error('redis-server did not start (is it installed?)');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    url,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Backends of one database plus PostgreSQL's own background processes (WAL writer, checkpointer, ...). */
export function postgresGroup(database: string): ProcGroup {
  return {
    name: 'postgres',
    pids: () =>
      listProcs()
        .filter((p) => p.cmdline.startsWith('postgres:'))
        .filter((p) => {
          const words = p.cmdline.split(/\s+/);
          // Backends read "postgres: 15/main: user db host(port) state"; background ones have no db.
          return words.includes(database) || !/\(\d+\)|\[local\]/.test(p.cmdline);
        })
        .map((p) => p.pid),
  };
}

/**
 * Starts a private stack for the run: a private redis-server, a fresh database `database` on the local
 * PostgreSQL (dropped first), migrations, inventory/accounting/worker and `gateways` gateways behind nginx,
 * with rate limits raised out of the way (but still counted) and nginx's edge limit off.
 */
export async function startTarget(options: {
  database: string;
  gateways: number;
  /** DB_POOL_MAX of every service. */
  dbPool: number;
  /** Write V8 CPU profiles of the app processes here. */
  profileDir?: string | undefined;
  dataDir: string;
  say: (m: string) => void;
}): Promise<Target> {
  const pgAdmin = process.env.DATABASE_URL ?? DEFAULT_ADMIN_URL;
  await dropDatabase(pgAdmin, options.database);
  const redis = await startRedisServer();
  const adminPassword = `bench-${randomBytes(9).toString('base64url')}`;
  const config = loadConfig(stackConfigSchema, {
    PORT: String(await freePort()),
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: redis.url,
    PLATFORM_ADMIN_PASSWORD: adminPassword,
    JWT_SECRET: randomBytes(32).toString('hex'),
    RATE_LIMIT_IP_PER_MIN: UNTHROTTLED,
    RATE_LIMIT_LOGIN_PER_MIN: UNTHROTTLED,
    RATE_LIMIT_USER_PER_MIN: UNTHROTTLED,
    RATE_LIMIT_TENANT_PER_MIN: UNTHROTTLED,
    EDGE_RATE_LIMIT_RPS: '0',
    GATEWAY_INSTANCES: String(options.gateways),
    LOG_LEVEL: 'warn',
  });
  let stack;
  try {
    stack = await startStack(config, {
      say: options.say,
      dataDir: options.dataDir,
      database: options.database,
      appEnv: {
        DB_POOL_MAX: String(Math.max(2, options.dbPool)),
        ...(options.profileDir
          ? {
              NODE_OPTIONS: `--require ${path.join(__dirname, 'cpu-profile-preload.cjs')}`,
              BENCH_PROFILE_DIR: path.resolve(options.profileDir),
            }
          : {}),
      },
      ports: {
        inventory: await freePort(),
        accounting: await freePort(),
        worker: await freePort(),
        firstGateway: await freePort(),
      },
    });
  } catch (err) {
    await redis.stop();
    throw err;
  }
  const s = stack;
  const pidOf = (name: string) => s.supervisor.processes().find((p) => p.name === name)?.pid;
  const names = s.supervisor.processes().map((p) => p.name);
  const groups: ProcGroup[] = names.map((name) => ({
    name,
    pids: () =>
      name === 'nginx' ? withChildren(pidOf(name)) : [pidOf(name)].filter((p): p is number => !!p),
  }));
  groups.push(postgresGroup(options.database));
  groups.push({
    name: 'redis',
    pids: () =>
      listProcs()
        .filter((p) => p.cmdline.startsWith('redis-server') && p.cmdline.includes(`:${redis.port}`))
        .map((p) => p.pid),
  });
  return {
    base: s.base,
    db: {
      adminUrl: onDatabase(s.pg.adminUrl, options.database),
      ownerUrl: s.pg.ownerUrl,
      appUrl: s.pg.appUrl,
      name: options.database,
    },
    redis: { url: redis.url, prefix: 'bench:peer:' },
    admin: { email: s.adminEmail, password: adminPassword },
    groups,
    describe: `${s.gateways} gateway(s)${s.hasNginx ? ' behind nginx least_conn' : ''}, ${s.pg.describe} (database ${options.database}), private ${s.redis.describe}`,
    gateways: s.gateways,
    async stop() {
      await s.stop();
      await redis.stop();
    },
  };
}

/** Uses a stack that is already running (`BENCH_TARGET`); processes are not measured. */
export function connectTarget(options: {
  base: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  admin: { email: string; password: string | undefined };
}): Target {
  if (!options.admin.password) {
    throw new Error(
      'BENCH_TARGET needs the platform admin password (BENCH_ADMIN_PASSWORD or PLATFORM_ADMIN_PASSWORD)',
    );
  }
  const u = options.databaseUrl ? new URL(options.databaseUrl) : undefined;
  const name = u?.pathname.replace(/^\//, '') || 'kverp';
  const db: BenchDb | undefined = options.databaseUrl
    ? {
        adminUrl: options.databaseUrl,
        ownerUrl: withUserAndDb(options.databaseUrl, 'kv_owner', name),
        appUrl: withUserAndDb(options.databaseUrl, 'kv_app', name),
        name,
      }
    : undefined;
  return {
    base: options.base.replace(/\/$/, ''),
    db,
    redis: {
      url: options.redisUrl ?? 'redis://127.0.0.1:6379',
      prefix: `bench:peer:${randomBytes(4).toString('hex')}:`,
    },
    admin: { email: options.admin.email, password: options.admin.password },
    groups: db ? [postgresGroup(name)] : [],
    describe: `existing stack at ${options.base}`,
    gateways: 0,
    stop: () => Promise.resolve(),
  };
}

/** Where `pnpm bench` writes by default. */
export const DEFAULT_OUT = path.join(ROOT, 'tools', 'bench', 'out');
