import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import knex, { type Knex } from 'knex';
import request from 'supertest';
import { loadConfig } from '@kv/config';
import { createNullLogger } from '@kv/logger';
import { permissionsOf } from '@kv/api-contract';
import type { TenantContext, UserAttributes } from '@kv/tenant-context';
import { createTestDatabase, DEFAULT_REDIS_URL, uniquePrefix, type TestDatabase } from '@kv/testing';
import { createApp } from '../src/app';
import { configSchema } from '../src/config';
import { createDeps, type AppDeps } from '../src/deps';

export const SECRET = 'test-internal-secret-0123456789abcdef';

/** One accounting service on a fresh database, with a listening server and helpers. */
export interface Harness {
  db: TestDatabase;
  deps: AppDeps;
  server: Server;
  /** Owner connection (kv_owner): owns the tables, RLS still applies (FORCE). */
  owner: Knex;
  /** App-role connection (kv_app) outside the service, for direct SQL checks. */
  appRole: Knex;
  http: () => ReturnType<typeof request>;
  close(): Promise<void>;
}

/** Starts the service on a fresh database (migrated by createDeps, as in production). */
export async function startHarness(
  label: string,
  env: Record<string, string> | ((db: TestDatabase) => Record<string, string>) = {},
): Promise<Harness> {
  const db = await createTestDatabase(label);
  const extraEnv = typeof env === 'function' ? env(db) : env;
  const config = loadConfig(configSchema, {
    DATABASE_URL: db.urls.app,
    DATABASE_OWNER_URL: db.urls.owner,
    DATABASE_SYSTEM_URL: db.urls.system,
    REDIS_URL: DEFAULT_REDIS_URL,
    REDIS_KEY_PREFIX: uniquePrefix('acct'),
    INTERNAL_SECRET: SECRET,
    DB_POOL_MAX: '8',
    ...extraEnv,
  });
  const deps = await createDeps(config, { logger: createNullLogger() });
  const app = createApp(deps);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const owner = knex({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
  const appRole = knex({ client: 'pg', connection: db.urls.app, pool: { min: 0, max: 2 } });
  return {
    db,
    deps,
    server,
    owner,
    appRole,
    http: () => request(server),
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await deps.close();
      await owner.destroy();
      await appRole.destroy();
      await db.drop();
    },
  };
}

/** The base URL of a harness's server. */
export function baseUrl(h: Harness): string {
  return `http://127.0.0.1:${(h.server.address() as AddressInfo).port}`;
}

export interface UserOptions {
  tenantId: string;
  roles?: string[];
  permissions?: string[];
  attributes?: UserAttributes;
  userId?: string;
}

/** A signed `x-kv-identity` for a user (default role: accountant). */
export function userIdentity(h: Harness, o: UserOptions): string {
  const roles = o.roles ?? ['accountant'];
  const ctx: TenantContext = {
    tenantId: o.tenantId,
    userId: o.userId ?? randomUUID(),
    roles,
    permissions: o.permissions ?? permissionsOf(roles),
    attributes: o.attributes ?? {},
    requestId: randomUUID(),
    kind: 'user',
  };
  return h.deps.codec.sign(ctx);
}

/** A signed service identity (the worker's) for a tenant. */
export function serviceIdentity(h: Harness, tenantId: string): string {
  return h.deps.codec.sign({
    tenantId,
    userId: null,
    roles: [],
    permissions: [],
    attributes: {},
    requestId: randomUUID(),
    kind: 'service',
  });
}

/** Runs `fn` as `role` connection inside a transaction scoped to `tenantId` (RLS applies). */
export async function asTenant<T>(
  k: Knex,
  tenantId: string,
  fn: (trx: Knex.Transaction) => Promise<T>,
): Promise<T> {
  return k.transaction(async (trx) => {
    await trx.raw(`SELECT set_config('app.tenant_id', ?, true)`, [tenantId]);
    return fn(trx);
  });
}

/** A small client bound to one identity. */
export function client(h: Harness, identity: string) {
  return {
    get: (path: string) => h.http().get(path).set('x-kv-identity', identity),
    post: (path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const r = h.http().post(path).set('x-kv-identity', identity).set(headers);
      return body === undefined ? r : r.send(body as object);
    },
  };
}

/** Creates an account and returns its id. */
export async function createAccount(
  c: ReturnType<typeof client>,
  code: string,
  type: 'asset' | 'liability' | 'equity' | 'revenue' | 'expense' = 'asset',
): Promise<string> {
  const res = await c.post('/v1/accounts', { code, name: `Account ${code}`, type });
  if (res.status !== 201)
    throw new Error(`create account ${code}: ${res.status} ${JSON.stringify(res.body)}`);
  return (res.body as { id: string }).id;
}

/** A balanced two-line entry body. */
export function entryBody(
  debitAccount: string,
  creditAccount: string,
  amount: number,
  date = '2026-01-15',
  memo?: string,
) {
  return {
    date,
    ...(memo === undefined ? {} : { memo }),
    lines: [
      { account_id: debitAccount, debit: amount, credit: 0 },
      { account_id: creditAccount, debit: 0, credit: amount },
    ],
  };
}

/** Row counts of the ledger tables for one tenant (read as the owner, tenant-scoped). */
export async function ledgerCounts(
  h: Harness,
  tenantId: string,
): Promise<{ entries: number; lines: number; audit: number; keys: number }> {
  return asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{ rows: { entries: number; lines: number; audit: number; keys: number }[] }>(
      `SELECT (SELECT count(*) FROM accounting.journal_entries)::int AS entries,
              (SELECT count(*) FROM accounting.journal_lines)::int AS lines,
              (SELECT count(*) FROM accounting.audit_events)::int AS audit,
              (SELECT count(*) FROM accounting.idempotency_keys)::int AS keys`,
    );
    return r.rows[0]!;
  });
}

/** Sum of posted lines vs sum of balance slots, per account, for one tenant. */
export async function balanceCheck(
  h: Harness,
  tenantId: string,
): Promise<{
  lineDebit: number;
  lineCredit: number;
  slotDebit: number;
  slotCredit: number;
  mismatchedAccounts: number;
}> {
  return asTenant(h.owner, tenantId, async (trx) => {
    const r = await trx.raw<{
      rows: {
        line_debit: string;
        line_credit: string;
        slot_debit: string;
        slot_credit: string;
        mismatched: number;
      }[];
    }>(
      `WITH l AS (SELECT account_id, sum(debit) AS d, sum(credit) AS c FROM accounting.journal_lines GROUP BY account_id),
            s AS (SELECT account_id, sum(debit) AS d, sum(credit) AS c FROM accounting.account_balances GROUP BY account_id)
       SELECT COALESCE((SELECT sum(d) FROM l), 0)::text AS line_debit,
              COALESCE((SELECT sum(c) FROM l), 0)::text AS line_credit,
              COALESCE((SELECT sum(d) FROM s), 0)::text AS slot_debit,
              COALESCE((SELECT sum(c) FROM s), 0)::text AS slot_credit,
              (SELECT count(*) FROM l FULL JOIN s USING (account_id)
                WHERE l.d IS DISTINCT FROM s.d OR l.c IS DISTINCT FROM s.c)::int AS mismatched`,
    );
    const row = r.rows[0]!;
    return {
      lineDebit: Number(row.line_debit),
      lineCredit: Number(row.line_credit),
      slotDebit: Number(row.slot_debit),
      slotCredit: Number(row.slot_credit),
      mismatchedAccounts: row.mismatched,
    };
  });
}
