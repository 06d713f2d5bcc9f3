import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** Superuser URL of the local PostgreSQL (trust auth on this machine and in CI). */
export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The platform's database roles. Tables are owned by `owner`; requests run as `app` (row-level security
 * applies: it owns nothing and cannot bypass RLS); `system` has BYPASSRLS and only the narrow grants each
 * migration gives it (cross-tenant work: login lookup, outbox relay, expiry sweep).
 */
export const ROLE_NAMES = { owner: 'kv_owner', app: 'kv_app', system: 'kv_system' } as const;

export interface DatabaseUrls {
  admin: string;
  owner: string;
  app: string;
  system: string;
}

export interface TestDatabase {
  name: string;
  urls: DatabaseUrls;
  /** Drops the database (terminating its connections). */
  drop(): Promise<void>;
}

/** Replaces user and database of a postgres URL. */
export function withUserAndDb(url: string, user: string, db: string, password?: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password ?? '';
  u.pathname = `/${db}`;
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates the three platform roles if missing (idempotent, safe when many test files race).
 * Needs a superuser connection.
 */
export async function ensureRoles(adminUrl = DEFAULT_ADMIN_URL): Promise<void> {
  await withClient(adminUrl, async (c) => {
    await c.query('SELECT pg_advisory_lock(424242)');
    try {
      const sql: [string, string][] = [
        [ROLE_NAMES.owner, 'LOGIN NOSUPERUSER NOBYPASSRLS'],
        [ROLE_NAMES.app, 'LOGIN NOSUPERUSER NOBYPASSRLS'],
        [ROLE_NAMES.system, 'LOGIN NOSUPERUSER BYPASSRLS'],
      ];
      for (const [role, attrs] of sql) {
        const { rowCount } = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
        if (!rowCount) await c.query(`CREATE ROLE ${role} ${attrs}`);
      }
    } finally {
      await c.query('SELECT pg_advisory_unlock(424242)');
    }
  });
}

/**
 * A fresh database for one test file, owned by `kv_owner`, with role URLs to connect as each role.
 * Run the app's migrations with `urls.owner`, then exercise it with `urls.app`.
 */
export async function createTestDatabase(
  label = 'test',
  adminUrl = DEFAULT_ADMIN_URL,
): Promise<TestDatabase> {
  await ensureRoles(adminUrl);
  const name = `kvt_${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  await withClient(adminUrl, async (c) => {
    await c.query(`CREATE DATABASE ${name} OWNER ${ROLE_NAMES.owner}`);
    await c.query(`REVOKE ALL ON DATABASE ${name} FROM PUBLIC`);
    await c.query(`GRANT CONNECT ON DATABASE ${name} TO ${ROLE_NAMES.app}, ${ROLE_NAMES.system}`);
  });
  const urls: DatabaseUrls = {
    admin: withUserAndDb(adminUrl, new URL(adminUrl).username || 'postgres', name),
    owner: withUserAndDb(adminUrl, ROLE_NAMES.owner, name),
    app: withUserAndDb(adminUrl, ROLE_NAMES.app, name),
    system: withUserAndDb(adminUrl, ROLE_NAMES.system, name),
  };
  return {
    name,
    urls,
    drop: () =>
      withClient(adminUrl, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}
