import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import path from 'node:path';
import express from 'express';
import knexFactory, { type Knex } from 'knex';
import { loadConfig } from '@kv/config';
import { createNullLogger } from '@kv/logger';
import { createOutboxTable, writeOutbox } from '@kv/outbox';
import { createIdentityCodec, enableTenantRls, withTenantTransaction } from '@kv/tenant-context';
import { createTestDatabase, freePort, sleep, waitFor, type TestDatabase } from '@kv/testing';
import { configSchema, type Config } from '../src/config';
import { createDeps, type Deps } from '../src/deps';
import { migrate } from '../src/migrate';
import { createQueues, QUEUE_NAMES } from '../src/queues/queues';
import { startWorker, type Worker, type WorkerParts } from '../src/worker';

type JobCounts = Awaited<ReturnType<ReturnType<typeof createQueues>['high']['getJobCounts']>>;

export const SECRET = 'test-internal-secret-0123456789abcdef';
export const codec = createIdentityCodec({ secret: SECRET });
export const REPO_ROOT = path.resolve(__dirname, '../../..');

/** A test database with the worker schema and `inventory`/`accounting` outbox tables (as the services create them). */
export interface WorkerTestDb {
  db: TestDatabase;
  /** Superuser pool for setup and assertions (bypasses RLS). */
  admin: Knex;
  close(): Promise<void>;
}

export async function setupDatabase(
  label: string,
  schemas = ['inventory', 'accounting'],
): Promise<WorkerTestDb> {
  const db = await createTestDatabase(label);
  const owner = knexFactory({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
  try {
    await migrate(owner);
    for (const schema of schemas) {
      await owner.raw(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await owner.raw(`GRANT USAGE ON SCHEMA ${schema} TO kv_app, kv_system`);
      await createOutboxTable(owner, schema, {
        appRole: 'kv_app',
        systemRole: 'kv_system',
        enableRls: enableTenantRls,
      });
    }
    // What the stub accounting writes: one row per applied event (its de-duplication), plus every call.
    await owner.raw(`CREATE SCHEMA stub`);
    await owner.raw(`CREATE TABLE stub.entries (event_id uuid PRIMARY KEY, tenant_id uuid NOT NULL, value bigint NOT NULL,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  } finally {
    await owner.destroy();
  }
  const admin = knexFactory({ client: 'pg', connection: db.urls.admin, pool: { min: 0, max: 10 } });
  return {
    db,
    admin,
    async close() {
      await admin.destroy();
      await db.drop();
    },
  };
}

/** A stock movement payload as inventory writes it. */
export function movementPayload(tenantId: string, movementId: string, value = 100): Record<string, unknown> {
  return {
    movement_id: movementId,
    tenant_id: tenantId,
    type: 'receipt',
    product_id: randomUUID(),
    warehouse_id: randomUUID(),
    quantity: 1,
    unit_cost: value,
    value,
    occurred_at: new Date().toISOString(),
    reference: null,
  };
}

/** Writes `n` stock movement events into `inventory.outbox` (one transaction per `perTx`), like inventory does. */
export async function writeMovements(
  knex: Knex,
  tenantId: string,
  n: number,
  perTx = 50,
  topic = 'inventory.stock_movement',
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += perTx) {
    const batch = Array.from({ length: Math.min(perTx, n - i) }, () => randomUUID());
    await withTenantTransaction(
      knex,
      (trx) =>
        writeOutbox(
          trx,
          'inventory',
          batch.map((id) => ({ id, tenantId, topic, payload: movementPayload(tenantId, id, 100 + (i % 7)) })),
        ),
      { tenantId, userId: null },
    );
    ids.push(...batch);
  }
  return ids;
}

export interface OutboxCounts {
  pending: number;
  done: number;
}

export async function outboxCounts(admin: Knex, schema = 'inventory'): Promise<OutboxCounts> {
  const { rows } = await admin.raw<{ rows: { status: string; n: number }[] }>(
    `SELECT status, count(*)::int AS n FROM ${schema}.outbox GROUP BY status`,
  );
  const get = (s: string) => rows.find((r) => r.status === s)?.n ?? 0;
  return { pending: get('pending'), done: get('done') };
}

export async function entryCount(admin: Knex): Promise<number> {
  const { rows } = await admin.raw<{ rows: { n: number }[] }>('SELECT count(*)::int AS n FROM stub.entries');
  return rows[0]!.n;
}

/**
 * A stand-in for accounting's `POST /internal/events/stock-movement`: verifies the service identity, applies
 * each event id once (a primary-key insert in PostgreSQL, like accounting's processed_events) and counts calls.
 * It can be stopped (connection refused), slowed down, or made to refuse chosen events with a 422.
 */
export class StubAccounting {
  readonly calls = new Map<string, number[]>();
  readonly identities: { tenantId: string; kind: string; requestId: string }[] = [];
  latencyMs = 0;
  /** Calls being served right now. */
  inFlight = 0;
  /** Events answered 422 until removed. */
  readonly rejecting = new Set<string>();
  /** Events answered 503 this many more times. */
  readonly failTimes = new Map<string, number>();
  private server: Server | undefined;
  private readonly app = express();
  private constructor(
    readonly port: number,
    private readonly admin: Knex,
  ) {
    this.app.use(express.json());
    this.app.post('/internal/events/stock-movement', async (req, res) => {
      let ctx;
      try {
        ctx = codec.verify(req.headers['x-kv-identity'] as string | undefined);
      } catch {
        res.status(401).json({ type: 'unauthenticated', detail: 'no identity' });
        return;
      }
      const body = req.body as { event_id: string; payload: { tenant_id: string; value: number } };
      this.identities.push({ tenantId: ctx.tenantId, kind: ctx.kind, requestId: ctx.requestId });
      const list = this.calls.get(body.event_id) ?? [];
      list.push(Date.now());
      this.calls.set(body.event_id, list);
      if (ctx.kind !== 'service' || ctx.tenantId !== body.payload.tenant_id) {
        res.status(401).json({ type: 'unauthenticated', detail: 'wrong identity' });
        return;
      }
      if (this.rejecting.has(body.event_id)) {
        res.status(422).json({ type: 'unbalanced-entry', detail: 'refused by the test' });
        return;
      }
      const fails = this.failTimes.get(body.event_id) ?? 0;
      if (fails > 0) {
        this.failTimes.set(body.event_id, fails - 1);
        res.status(503).json({ type: 'unavailable', detail: 'failing on purpose' });
        return;
      }
      this.inFlight += 1;
      try {
        if (this.latencyMs > 0) await sleep(this.latencyMs);
        const r = await this.admin.raw<{ rowCount: number }>(
          'INSERT INTO stub.entries (event_id, tenant_id, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
          [body.event_id, body.payload.tenant_id, body.payload.value],
        );
        res.json({ entry_id: r.rowCount === 1 ? randomUUID() : null, duplicate: r.rowCount === 0 });
      } finally {
        this.inFlight -= 1;
      }
    });
  }

  static async start(admin: Knex): Promise<StubAccounting> {
    const stub = new StubAccounting(await freePort(), admin);
    await stub.listen();
    return stub;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    if (this.server) return;
    const server = this.app.listen(this.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.server = server;
  }

  /** Stops listening and drops open connections (the service is down). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  totalCalls(): number {
    let n = 0;
    for (const l of this.calls.values()) n += l.length;
    return n;
  }
}

/** A stand-in for inventory's `POST /internal/reservations/expire-due` that records who called when. */
export class StubInventory {
  readonly sweeps: { at: number; requestId: string; tenantId: string; kind: string }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  latencyMs = 20;
  private server: Server | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<StubInventory> {
    const stub = new StubInventory(await freePort());
    const app = express();
    app.post('/internal/reservations/expire-due', async (req, res) => {
      const ctx = codec.verify(req.headers['x-kv-identity'] as string | undefined);
      stub.inFlight += 1;
      stub.maxInFlight = Math.max(stub.maxInFlight, stub.inFlight);
      stub.sweeps.push({ at: Date.now(), requestId: ctx.requestId, tenantId: ctx.tenantId, kind: ctx.kind });
      await sleep(stub.latencyMs);
      stub.inFlight -= 1;
      res.json({ expired: 0 });
    });
    const server = app.listen(stub.port, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    stub.server = server;
    return stub;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}

/** Environment of a worker for tests: fast timings, unique bull prefix. */
export function workerEnv(
  db: TestDatabase,
  o: { redisUrl: string; prefix: string; accountingUrl: string; inventoryUrl: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PORT: '0',
    LOG_LEVEL: 'warn',
    DATABASE_SYSTEM_URL: db.urls.system,
    DATABASE_OWNER_URL: db.urls.owner,
    MIGRATE_ON_START: 'false',
    DB_POOL_MAX: '10',
    REDIS_URL: o.redisUrl,
    INTERNAL_SECRET: SECRET,
    INVENTORY_URL: o.inventoryUrl,
    ACCOUNTING_URL: o.accountingUrl,
    HTTP_TIMEOUT_MS: '3000',
    QUEUE_PREFIX: o.prefix,
    QUEUE_HIGH_CONCURRENCY: '16',
    QUEUE_BACKOFF_BASE_MS: '200',
    QUEUE_LOCK_DURATION_MS: '4000',
    QUEUE_LOCK_RENEW_MS: '1000',
    QUEUE_STALLED_INTERVAL_MS: '1000',
    RELAY_INTERVAL_MS: '50',
    RELAY_REDELIVER_AFTER_MS: '5000',
    EXPIRY_ENABLED: 'false',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...extra,
  };
}

/** A worker running in this process. */
export interface InProcessWorker {
  config: Config;
  deps: Deps;
  worker: Worker;
  stop(): Promise<void>;
}

export function startInProcess(
  env: Record<string, string>,
  parts: WorkerParts = {},
  logStream?: NodeJS.WritableStream,
): InProcessWorker {
  const config = loadConfig(configSchema, env);
  const deps = createDeps(config, logStream ? { logStream } : { logger: createNullLogger() });
  const worker = startWorker(deps, parts);
  let stopped: Promise<void> | undefined;
  return {
    config,
    deps,
    worker,
    stop() {
      stopped ??= worker.stop().then(() => deps.close());
      return stopped;
    },
  };
}

/** A worker running as a child process (`src/main.ts` under tsx), so that it can be SIGKILLed. */
export class ChildWorker {
  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly output: string[],
  ) {}

  static async start(env: Record<string, string>, nodeArgs: string[] = []): Promise<ChildWorker> {
    const port = await freePort();
    const output: string[] = [];
    const proc = spawn(
      process.execPath,
      [
        ...nodeArgs,
        '--import',
        'tsx',
        '--conditions=@kv/source',
        path.join(REPO_ROOT, 'apps/worker/src/main.ts'),
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env, PORT: String(port), NODE_ENV: 'test' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 200) output.shift();
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const child = new ChildWorker(proc, port, output);
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`worker exited: ${output.join('')}`);
        const res = await fetch(`http://127.0.0.1:${port}/health/live`);
        return res.ok;
      },
      30_000,
      100,
    );
    return child;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Sends `signal` and waits for the exit; returns the exit code (null when killed by the signal). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (!this.alive) return this.proc.exitCode;
    const exited = new Promise<number | null>((resolve) => this.proc.once('exit', (code) => resolve(code)));
    this.proc.kill(signal);
    return exited;
  }
}

/** Job counts of every queue under `prefix` (a throwaway bull connection). */
export async function queueCounts(redisUrl: string, prefix: string): Promise<Record<string, JobCounts>> {
  const queues = createQueues({
    redisUrl,
    prefix,
    attempts: { high: 1, default: 1, low: 1 },
    backoffBaseMs: 1,
    backoffMaxMs: 1,
    lockDurationMs: 30_000,
    lockRenewMs: 0,
    stalledIntervalMs: 30_000,
    maxStalledCount: 1,
  });
  try {
    const out: Record<string, JobCounts> = {};
    for (const q of QUEUE_NAMES) out[q] = await queues[q].getJobCounts();
    return out;
  } finally {
    await Promise.all(QUEUE_NAMES.map((q) => queues[q].close()));
  }
}

/** Another app of the repo (`inventory`, `accounting`) as a child process, started from its source. */
export class ServiceProcess {
  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly output: string[],
  ) {}

  static async start(app: string, env: Record<string, string>, port?: number): Promise<ServiceProcess> {
    const p = port ?? (await freePort());
    const output: string[] = [];
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@kv/source', path.join(REPO_ROOT, `apps/${app}/src/main.ts`)],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, LOG_LEVEL: 'warn', ...env, PORT: String(p), NODE_ENV: 'test' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const keep = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.length > 200) output.shift();
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const svc = new ServiceProcess(proc, p, output);
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`${app} exited: ${output.join('')}`);
        return (await fetch(`http://127.0.0.1:${p}/health/ready`)).ok;
      },
      60_000,
      100,
    );
    return svc;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.kill(signal);
    await exited;
  }
}

/** The real accounting service on the test database (it migrates its own schema), using the shared Redis. */
export function startAccounting(db: TestDatabase, redisPrefix: string): Promise<ServiceProcess> {
  return ServiceProcess.start('accounting', {
    DATABASE_URL: db.urls.app,
    DATABASE_OWNER_URL: db.urls.owner,
    DATABASE_SYSTEM_URL: db.urls.system,
    DATABASE_POOL_MAX: '10',
    MIGRATE_ON_START: 'true',
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: redisPrefix,
    INTERNAL_SECRET: SECRET,
  });
}

/** How the inventory outbox events were posted by the real accounting. */
export interface PostingCounts {
  /** Stock movement journal entries. */
  entries: number;
  /** Outbox events without an entry. */
  missing: number;
  /** Outbox events with more than one entry. */
  duplicated: number;
}

export async function postingCounts(admin: Knex): Promise<PostingCounts> {
  const { rows } = await admin.raw<{ rows: PostingCounts[] }>(`
    WITH per AS (
      SELECT o.id, (SELECT count(*) FROM accounting.journal_entries e
                     WHERE e.tenant_id = o.tenant_id AND e.source_type = 'stock_movement' AND e.source_id = o.id) AS n
        FROM inventory.outbox o)
    SELECT (SELECT count(*)::int FROM accounting.journal_entries WHERE source_type = 'stock_movement') AS entries,
           count(*) FILTER (WHERE n = 0)::int AS missing,
           count(*) FILTER (WHERE n > 1)::int AS duplicated
      FROM per`);
  return rows[0]!;
}

/** Every permission of the contract's `admin` role (api-contract's `permissionsOf(['admin'])`). */
export const ADMIN_PERMISSIONS = [
  'inventory:read',
  'inventory:write',
  'inventory:adjust',
  'accounting:read',
  'accounting:post',
  'accounting:close',
  'audit:read',
  'users:manage',
];

/** Signs a user identity as the gateway forwards it. */
export function userIdentity(tenantId: string, roles = ['admin'], permissions = ADMIN_PERMISSIONS): string {
  return codec.sign({
    kind: 'user',
    tenantId,
    userId: randomUUID(),
    roles,
    permissions,
    attributes: {},
    requestId: `test-${randomUUID()}`,
  });
}

/** JSON call to a service with a forwarded identity. */
export async function callService(
  base: string,
  method: 'GET' | 'POST',
  pathname: string,
  identity: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${pathname}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-kv-identity': identity },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export function uniqueBullPrefix(label: string): string {
  return `t-${label}-${randomBytes(4).toString('hex')}`;
}

export { sleep, waitFor };
