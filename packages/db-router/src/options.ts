import type { Knex } from 'knex';

/** A PostgreSQL URL (`postgres://user@host:port/db`) or a pg connection config object. */
export type ConnectionInput = string | Knex.PgConnectionConfig;

/**
 * Pool settings, chosen to be safe behind PgBouncer in transaction mode: `min` 0 (no idle connections pinned)
 * and an idle timeout, so the pool never relies on a long-lived server session.
 */
export interface PoolOptions {
  /** Connections kept open even when idle. Default 0. */
  min?: number;
  /** Maximum connections. Default 10. */
  max?: number;
  /** Close a connection idle this long, in ms. Default 10 000. */
  idleTimeoutMs?: number;
  /** Give up waiting for a free connection after this long, in ms (the query then fails). Default 10 000. */
  acquireTimeoutMs?: number;
  /** Give up opening a TCP/PG connection after this long, in ms. Default 5 000 (readers: 2 000). */
  connectTimeoutMs?: number;
  /**
   * Server-side `statement_timeout` in ms, sent as a startup parameter. Default: not sent. PgBouncer rejects
   * unknown startup parameters unless listed in its `ignore_startup_parameters`; behind PgBouncer prefer
   * `ALTER ROLE ... SET statement_timeout` or `SET LOCAL statement_timeout` inside the transaction.
   */
  statementTimeoutMs?: number;
  /** `application_name` reported to PostgreSQL (pg_stat_activity). Default not set. */
  applicationName?: string;
}

/** Exponential backoff before a replica that failed is checked again. */
export interface BackoffOptions {
  /** Delay after the first failure, in ms. Default 500. */
  initialMs?: number;
  /** Upper bound of the delay, in ms. Default 30 000. */
  maxMs?: number;
  /** Growth factor per consecutive failure. Default 2. */
  factor?: number;
}

/**
 * How a read with `minLsn` decides that a replica has replayed past it.
 * - `'cached'`: the replay position from the last health poll only. No extra query; right after a write this
 *   usually sends the read to the writer (until the next poll sees the replica past it).
 * - `'recheck'`: as `'cached'`, and on a miss one fresh `pg_last_wal_replay_lsn()` query on the most advanced healthy
 *   replica (one cheap round trip to the replica instead of a read on the writer).
 * - `'verify'`: the read runs inside a replica transaction whose first statement checks
 *   `pg_last_wal_replay_lsn() >= minLsn` on that very session; if not, it runs on the writer. Costs BEGIN/check/COMMIT
 *   per read, and stays correct even if the replica restarted behind PgBouncer between two polls.
 * Only {@link DbRouter.read} uses `'recheck'`/`'verify'`; the synchronous {@link DbRouter.reader} always uses the
 * cached position.
 */
export type LsnCheckMode = 'cached' | 'recheck' | 'verify';

/** The four routing outcomes counted by the router. */
export type RoutingDecision =
  'replica' | 'primary_lsn_not_caught_up' | 'primary_no_healthy_replica' | 'primary_fallback_after_error';

/** Every {@link RoutingDecision}, e.g. to pre-register metric label values. */
export const ROUTING_DECISIONS: readonly RoutingDecision[] = [
  'replica',
  'primary_lsn_not_caught_up',
  'primary_no_healthy_replica',
  'primary_fallback_after_error',
] as const;

/** One routing decision, as passed to `onDecision`. */
export interface DecisionEvent {
  decision: RoutingDecision;
  /** The replica's name when `decision` is `'replica'`, or the replica that failed for `'primary_fallback_after_error'`. */
  replica?: string;
  /** The `minLsn` the read asked for, if any. */
  minLsn?: string;
}

/** Health state of one replica. `up`: routable; `lagging`: alive but over the lag limit; `unknown`: not yet polled. */
export type ReplicaStatus = 'unknown' | 'up' | 'lagging' | 'down';

/** A replica changed state (for logs, alerts or a gauge). */
export interface ReplicaStateEvent {
  replica: string;
  from: ReplicaStatus;
  to: ReplicaStatus;
  /** Why, when it is not `up` (error text or lag figure). */
  reason?: string;
}

/** Minimal logger; `@kv/logger`'s Logger fits. */
export interface DbRouterLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Options of {@link createDbRouter}. Validated once, at construction. */
export interface DbRouterOptions {
  /** The primary: every write and every read that cannot go to a replica. */
  writer: ConnectionInput;
  /** Streaming replicas (hot standbys of `writer`). Default none: every read goes to the writer. */
  readers?: readonly ConnectionInput[];
  /** Pool settings for the writer, and for readers unless `readerPool` is given. */
  pool?: PoolOptions;
  /** Pool settings for each reader (merged over `pool`). */
  readerPool?: PoolOptions;
  /** How often the background checker polls the writer and every replica, in ms. Default 1 000. */
  healthCheckIntervalMs?: number;
  /** A health query slower than this counts as a failure, in ms. Default 2 000. */
  healthCheckTimeoutMs?: number;
  /**
   * A replica whose replay position is more than this many WAL bytes behind the primary's is `lagging` and gets no
   * reads. Default: no byte limit.
   */
  maxLagBytes?: number;
  /**
   * A replica that has not replayed what the primary had written this long ago (in ms, measured at poll
   * granularity from the router's own primary polls, so clock skew does not matter) is `lagging`. Default 5 000.
   * Pass `Infinity` to disable.
   */
  maxLagMs?: number;
  /** Backoff before re-checking a replica that is down. */
  backoff?: BackoffOptions;
  /** How reads with `minLsn` verify the replica has replayed past it. Default `'cached'`. */
  lsnCheck?: LsnCheckMode;
  /** Called for every routing decision (synchronously; errors it throws are logged and ignored). */
  onDecision?: (event: DecisionEvent) => void;
  /** Called when a replica changes state (errors it throws are logged and ignored). */
  onReplicaStateChange?: (event: ReplicaStateEvent) => void;
  /** Receives state changes and knex's own warnings. Default: silent. */
  logger?: DbRouterLogger;
}

export interface ResolvedPool {
  min: number;
  max: number;
  idleTimeoutMs: number;
  acquireTimeoutMs: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number | undefined;
  applicationName: string | undefined;
}

export interface ResolvedOptions {
  writer: ConnectionInput;
  readers: ConnectionInput[];
  writerPool: ResolvedPool;
  readerPool: ResolvedPool;
  healthCheckIntervalMs: number;
  healthCheckTimeoutMs: number;
  maxLagBytes: number;
  maxLagMs: number;
  backoff: Required<BackoffOptions>;
  lsnCheck: LsnCheckMode;
  onDecision: ((event: DecisionEvent) => void) | undefined;
  onReplicaStateChange: ((event: ReplicaStateEvent) => void) | undefined;
  logger: DbRouterLogger | undefined;
}

function fail(message: string): never {
  throw new TypeError(`db-router: ${message}`);
}

function num(
  value: unknown,
  name: string,
  def: number,
  opts: { min: number; int?: boolean; infinite?: boolean },
): number {
  if (value === undefined) return def;
  if (typeof value !== 'number' || Number.isNaN(value)) fail(`${name} must be a number`);
  if (value === Infinity && opts.infinite) return value;
  if (!Number.isFinite(value)) fail(`${name} must be finite`);
  if (opts.int && !Number.isInteger(value)) fail(`${name} must be an integer`);
  if (value < opts.min) fail(`${name} must be >= ${opts.min}`);
  return value;
}

function checkConnection(value: unknown, name: string): ConnectionInput {
  if (typeof value === 'string') {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      fail(`${name} is not a valid URL`);
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
      fail(`${name} must be a postgres:// URL`);
    return value;
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  return fail(`${name} must be a postgres URL or a pg connection config object`);
}

function resolvePool(p: PoolOptions | undefined, base: ResolvedPool, name: string): ResolvedPool {
  if (p === undefined) return base;
  if (typeof p !== 'object' || p === null) fail(`${name} must be an object`);
  const min = num(p.min, `${name}.min`, base.min, { min: 0, int: true });
  const max = num(p.max, `${name}.max`, base.max, { min: 1, int: true });
  if (min > max) fail(`${name}.min must be <= ${name}.max`);
  if (p.applicationName !== undefined && typeof p.applicationName !== 'string') {
    fail(`${name}.applicationName must be a string`);
  }
  return {
    min,
    max,
    idleTimeoutMs: num(p.idleTimeoutMs, `${name}.idleTimeoutMs`, base.idleTimeoutMs, { min: 1, int: true }),
    acquireTimeoutMs: num(p.acquireTimeoutMs, `${name}.acquireTimeoutMs`, base.acquireTimeoutMs, {
      min: 1,
      int: true,
    }),
    connectTimeoutMs: num(p.connectTimeoutMs, `${name}.connectTimeoutMs`, base.connectTimeoutMs, {
      min: 1,
      int: true,
    }),
    statementTimeoutMs:
      p.statementTimeoutMs === undefined
        ? base.statementTimeoutMs
        : num(p.statementTimeoutMs, `${name}.statementTimeoutMs`, 0, { min: 1, int: true }),
    applicationName: p.applicationName ?? base.applicationName,
  };
}

const POOL_DEFAULTS: ResolvedPool = {
  min: 0,
  max: 10,
  idleTimeoutMs: 10_000,
  acquireTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  statementTimeoutMs: undefined,
  applicationName: undefined,
};

const LSN_CHECK_MODES: readonly LsnCheckMode[] = ['cached', 'recheck', 'verify'];

/**
 * Validates and fills defaults.
 * @throws TypeError naming the first bad option.
 */
export function resolveOptions(options: DbRouterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) fail('options must be an object');
  const writer = checkConnection(options.writer, 'writer');
  const readersIn: unknown = options.readers ?? [];
  if (!Array.isArray(readersIn)) fail('readers must be an array');
  const readers = (readersIn as unknown[]).map((r, i) => checkConnection(r, `readers[${i}]`));
  const writerPool = resolvePool(options.pool, POOL_DEFAULTS, 'pool');
  const readerPool = resolvePool(
    options.readerPool,
    { ...writerPool, connectTimeoutMs: options.pool?.connectTimeoutMs ?? 2_000 },
    'readerPool',
  );
  const backoffIn = options.backoff ?? {};
  if (typeof backoffIn !== 'object' || backoffIn === null) fail('backoff must be an object');
  const backoff = {
    initialMs: num(backoffIn.initialMs, 'backoff.initialMs', 500, { min: 1, int: true }),
    maxMs: num(backoffIn.maxMs, 'backoff.maxMs', 30_000, { min: 1, int: true }),
    factor: num(backoffIn.factor, 'backoff.factor', 2, { min: 1 }),
  };
  if (backoff.initialMs > backoff.maxMs) fail('backoff.initialMs must be <= backoff.maxMs');
  const lsnCheck = options.lsnCheck ?? 'cached';
  if (!LSN_CHECK_MODES.includes(lsnCheck)) fail(`lsnCheck must be one of ${LSN_CHECK_MODES.join(', ')}`);
  for (const hook of ['onDecision', 'onReplicaStateChange'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function')
      fail(`${hook} must be a function`);
  }
  const logger = options.logger;
  if (logger !== undefined && (typeof logger.info !== 'function' || typeof logger.warn !== 'function')) {
    fail('logger must have info() and warn()');
  }
  return {
    writer,
    readers,
    writerPool,
    readerPool,
    healthCheckIntervalMs: num(options.healthCheckIntervalMs, 'healthCheckIntervalMs', 1_000, {
      min: 10,
      int: true,
    }),
    healthCheckTimeoutMs: num(options.healthCheckTimeoutMs, 'healthCheckTimeoutMs', 2_000, {
      min: 1,
      int: true,
    }),
    maxLagBytes: num(options.maxLagBytes, 'maxLagBytes', Infinity, { min: 0, int: true, infinite: true }),
    maxLagMs: num(options.maxLagMs, 'maxLagMs', 5_000, { min: 0, infinite: true }),
    backoff,
    lsnCheck,
    onDecision: options.onDecision,
    onReplicaStateChange: options.onReplicaStateChange,
    logger,
  };
}

/** A credential-free display name for a connection: `host:port/database`. */
export function connectionName(conn: ConnectionInput): string {
  if (typeof conn === 'string') {
    const u = new URL(conn);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname.length > 1 ? u.pathname : ''}`;
  }
  if (conn.connectionString) return connectionName(conn.connectionString);
  return `${conn.host ?? 'localhost'}:${conn.port ?? 5432}${conn.database ? `/${conn.database}` : ''}`;
}
