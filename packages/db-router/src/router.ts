import knexFactory, { type Knex } from 'knex';
import type { Client as PgClient } from 'pg';
import {
  describeError,
  isConnectionError,
  isRecoveryConflict,
  ReplicaNotInRecoveryError,
  ReplicaRestartedError,
} from './errors';
import { currentLsn, formatLsn, parseLsn } from './lsn';
import {
  connectionName,
  ROUTING_DECISIONS,
  resolveOptions,
  type ConnectionInput,
  type DbRouterOptions,
  type ReplicaStatus,
  type ResolvedOptions,
  type ResolvedPool,
  type RoutingDecision,
} from './options';

/** Options of one read. */
export interface ReadOptions {
  /**
   * Read-your-writes: the read goes to a replica only if it has replayed past this LSN (`'X/Y'`, from
   * {@link currentLsn} after your write), else to the writer. `null`/`undefined`: any healthy replica.
   */
  minLsn?: string | null;
}

/** Health of one replica, as of its last poll. */
export interface ReplicaHealth {
  /** `host:port/database`, never credentials. */
  name: string;
  status: ReplicaStatus;
  /** Last polled `pg_last_wal_replay_lsn()`. */
  replayLsn: string | null;
  /** WAL bytes behind the primary's last polled position (0 when caught up; null when unknown). */
  lagBytes: number | null;
  /** How long ago, in ms, the primary had written what this replica has not replayed (null when unknown). */
  lagMs: number | null;
  /** ISO 8601 time of the last poll (successful or not). */
  lastCheckedAt: string | null;
  /** Why it is down or lagging. */
  error: string | null;
  consecutiveFailures: number;
  /** While down: ISO 8601 time of the next health check (backoff). */
  nextCheckAt: string | null;
}

/** Health of the writer, as of its last poll. */
export interface WriterHealth {
  name: string;
  status: 'unknown' | 'up' | 'down';
  /** Last polled `pg_current_wal_lsn()`. */
  lsn: string | null;
  lastCheckedAt: string | null;
  error: string | null;
}

/**
 * Readiness snapshot, shaped for `@kv/http`'s health checks: `healthy` (writer and every replica up),
 * `degraded` (writer up or not yet polled, and some replica down, lagging or not yet polled: reads still work,
 * via the writer), `unhealthy` (the writer's last poll failed).
 */
export interface DbRouterHealth {
  status: 'healthy' | 'degraded' | 'unhealthy';
  /** One line, safe to show publicly (names, no credentials). */
  detail: string;
  writer: WriterHealth;
  replicas: ReplicaHealth[];
}

/** Counters since creation, plus the replicas' health. */
export interface DbRouterStats {
  decisions: Record<RoutingDecision, number>;
  replicas: ReplicaHealth[];
}

/** Writer + replica knex pools with LSN-based read-your-writes routing and background replica health checks. */
export interface DbRouter {
  /** The writer's knex: every write, every transaction, every stock or money decision. */
  writer(): Knex;
  /**
   * A knex for a read: a healthy replica that (with `minLsn`) has replayed past `minLsn` according to its last
   * poll, else the writer. Synchronous and query-free; counts a routing decision. A query on the returned replica
   * can still fail if the replica dies meanwhile: use {@link DbRouter.read} to get the automatic writer retry.
   * @throws TypeError when `minLsn` is not a valid LSN.
   */
  reader(opts?: ReadOptions): Knex;
  /**
   * Runs `fn` against the chosen reader. On a connection-level error (refused, reset, terminated, shutdown, pool
   * timeout) the replica is marked down (re-checked after backoff) and `fn` runs once more on the writer; a
   * hot-standby recovery conflict, or a replica found to have restarted since its last poll, is also retried on the
   * writer (the replica stays up). With `minLsn` and `lsnCheck` `'recheck'`/`'verify'`, a cache miss costs one
   * query on the replica instead of a read on the writer (see `LsnCheckMode`). Any other error, and any error
   * on the writer, propagates. `fn` must only read (it may run twice); with `lsnCheck: 'verify'` it receives a
   * replica transaction.
   * @throws TypeError when `minLsn` is not a valid LSN; whatever `fn` throws on the writer.
   */
  read<T>(fn: (db: Knex) => Promise<T>, opts?: ReadOptions): Promise<T>;
  /** The primary's position after your committed write (see {@link currentLsn}). */
  currentLsn(): Promise<string>;
  /** Polls the writer and every replica now (ignoring backoff) and returns the resulting health. */
  checkNow(): Promise<DbRouterHealth>;
  /** Current health from the last polls (no I/O), for `/health/ready`. */
  health(): DbRouterHealth;
  /** Routing decision counters since creation and replica health (no I/O). */
  stats(): DbRouterStats;
  /** Stops the checker and destroys every pool. Idempotent. Later calls to `writer()`/`reader()` throw. */
  close(): Promise<void>;
}

interface ReplicaState {
  name: string;
  knex: Knex;
  checkKnex: Knex;
  status: ReplicaStatus;
  replayLsn: bigint | null;
  startedAt: string | null;
  lagBytes: number | null;
  lagMs: number | null;
  lastCheckedAt: number | null;
  error: string | null;
  failures: number;
  nextCheckAt: number;
  /** Bumped whenever the server is seen to have restarted or gone backwards; reads made across a bump are redone. */
  generation: number;
}

interface PrimarySample {
  at: number;
  lsn: bigint;
}

interface ReplicaPollRow {
  in_recovery: boolean;
  lsn: string | null;
  started_at: string;
}

const REPLICA_POLL_SQL =
  'SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS lsn, pg_postmaster_start_time()::text AS started_at';
const MAX_SAMPLES = 1_000;

class LsnNotReachedSignal extends Error {}

function connectionConfig(conn: ConnectionInput, pool: ResolvedPool): Knex.PgConnectionConfig {
  const base: Knex.PgConnectionConfig = typeof conn === 'string' ? { connectionString: conn } : { ...conn };
  base.connectionTimeoutMillis ??= pool.connectTimeoutMs;
  if (pool.statementTimeoutMs !== undefined) base.statement_timeout ??= pool.statementTimeoutMs;
  if (pool.applicationName !== undefined) base.application_name ??= pool.applicationName;
  return base;
}

/** Races `work` against a timer. `work` may be a knex builder: it is resolved exactly once (each `then` re-runs it). */
function withTimeout<T>(work: PromiseLike<T>, ms: number, what: string): Promise<T> {
  const promise = Promise.resolve(work);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

class Router implements DbRouter {
  private readonly opts: ResolvedOptions;
  private readonly writerKnex: Knex;
  private readonly writerCheckKnex: Knex;
  private readonly writerName: string;
  private readonly replicas: ReplicaState[];
  private readonly counts: Record<RoutingDecision, number>;
  private writerStatus: WriterHealth['status'] = 'unknown';
  private writerLsn: bigint | null = null;
  private writerCheckedAt: number | null = null;
  private writerError: string | null = null;
  private samples: PrimarySample[] = [];
  private rr = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | null = null;
  private closed = false;

  constructor(options: DbRouterOptions) {
    this.opts = resolveOptions(options);
    this.counts = Object.fromEntries(ROUTING_DECISIONS.map((d) => [d, 0])) as Record<RoutingDecision, number>;
    this.writerName = connectionName(this.opts.writer);
    this.writerKnex = this.makeKnex(this.opts.writer, this.opts.writerPool);
    this.writerCheckKnex = this.makeKnex(this.opts.writer, this.checkPool(this.opts.writerPool));
    const names = new Map<string, number>();
    this.replicas = this.opts.readers.map((conn) => {
      const base = connectionName(conn);
      const n = (names.get(base) ?? 0) + 1;
      names.set(base, n);
      const state: ReplicaState = {
        name: n === 1 ? base : `${base}#${n}`,
        knex: undefined as unknown as Knex,
        checkKnex: undefined as unknown as Knex,
        status: 'unknown',
        replayLsn: null,
        startedAt: null,
        lagBytes: null,
        lagMs: null,
        lastCheckedAt: null,
        error: null,
        failures: 0,
        nextCheckAt: 0,
        generation: 0,
      };
      state.knex = this.makeKnex(conn, this.opts.readerPool, state);
      state.checkKnex = this.makeKnex(conn, this.checkPool(this.opts.readerPool));
      return state;
    });
    this.timer = setInterval(() => this.runTick(false), this.opts.healthCheckIntervalMs);
    this.timer.unref();
    this.runTick(false);
  }

  // ---- public API -------------------------------------------------------------------------------------------------

  writer(): Knex {
    this.assertOpen();
    return this.writerKnex;
  }

  reader(opts?: ReadOptions): Knex {
    this.assertOpen();
    const minLsn = this.minLsnOf(opts);
    const { replica, decision } = this.route(minLsn);
    this.record(decision, replica?.name, opts?.minLsn ?? undefined);
    return replica ? replica.knex : this.writerKnex;
  }

  async read<T>(fn: (db: Knex) => Promise<T>, opts?: ReadOptions): Promise<T> {
    this.assertOpen();
    const minLsnText = opts?.minLsn ?? undefined;
    const minLsn = this.minLsnOf(opts);
    let { replica, decision } = this.route(minLsn);
    const mode = this.opts.lsnCheck;

    if (minLsn !== undefined && mode !== 'cached' && !replica && decision === 'primary_lsn_not_caught_up') {
      const candidate = this.mostAdvancedHealthy();
      if (candidate && mode === 'recheck') {
        if (await this.recheck(candidate, minLsn)) {
          replica = candidate;
          decision = 'replica';
        }
      } else if (candidate) {
        replica = candidate;
        decision = 'replica';
      }
    }
    if (!replica) {
      this.record(decision, undefined, minLsnText);
      return fn(this.writerKnex);
    }

    const target = replica;
    let fallback: RoutingDecision;
    try {
      if (minLsn !== undefined && mode === 'verify') {
        return await target.knex.transaction(async (trx) => {
          const check = await trx.raw<{ rows: Array<{ ok: boolean }> }>(
            'SELECT pg_last_wal_replay_lsn() >= ?::pg_lsn AS ok',
            [formatLsn(minLsn)],
          );
          if (check.rows[0]?.ok !== true) throw new LsnNotReachedSignal();
          this.record('replica', target.name, minLsnText);
          return fn(trx);
        });
      }
      this.record('replica', target.name, minLsnText);
      const generation = target.generation;
      const value = await fn(target.knex);
      if (minLsn === undefined || target.generation === generation) return value;
      // The replica restarted while we read: the replay position we routed on may not have held.
      fallback = 'primary_fallback_after_error';
    } catch (err) {
      if (err instanceof LsnNotReachedSignal) {
        fallback = 'primary_lsn_not_caught_up';
      } else if (err instanceof ReplicaRestartedError) {
        // The replica is alive and its cached position was just corrected: only this read moves to the writer.
        fallback = 'primary_fallback_after_error';
      } else if (isConnectionError(err)) {
        this.markDown(target, err, 'read');
        fallback = 'primary_fallback_after_error';
      } else if (isRecoveryConflict(err)) {
        fallback = 'primary_fallback_after_error';
      } else {
        throw err;
      }
    }
    this.record(fallback, fallback === 'primary_fallback_after_error' ? target.name : undefined, minLsnText);
    return fn(this.writerKnex);
  }

  currentLsn(): Promise<string> {
    this.assertOpen();
    return currentLsn(this.writerKnex);
  }

  async checkNow(): Promise<DbRouterHealth> {
    this.assertOpen();
    if (this.ticking) await this.ticking;
    await this.tick(true);
    return this.health();
  }

  health(): DbRouterHealth {
    const replicas = this.replicaHealth();
    const notUp = replicas.filter((r) => r.status !== 'up');
    let status: DbRouterHealth['status'] = 'healthy';
    const parts: string[] = [`writer ${this.writerName} ${this.writerStatus}`];
    if (this.writerStatus === 'down') status = 'unhealthy';
    else if (this.writerStatus === 'unknown' || notUp.length > 0) status = 'degraded';
    for (const r of replicas) parts.push(`replica ${r.name} ${r.status}`);
    return {
      status,
      detail: parts.join('; '),
      writer: {
        name: this.writerName,
        status: this.writerStatus,
        lsn: this.writerLsn === null ? null : formatLsn(this.writerLsn),
        lastCheckedAt: iso(this.writerCheckedAt),
        error: this.writerError,
      },
      replicas,
    };
  }

  stats(): DbRouterStats {
    return { decisions: { ...this.counts }, replicas: this.replicaHealth() };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.ticking) await this.ticking.catch(() => undefined);
    const all = [
      this.writerKnex,
      this.writerCheckKnex,
      ...this.replicas.flatMap((r) => [r.knex, r.checkKnex]),
    ];
    await Promise.all(all.map((k) => k.destroy().catch(() => undefined)));
  }

  // ---- routing ----------------------------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error('db-router: router is closed');
  }

  private minLsnOf(opts: ReadOptions | undefined): bigint | undefined {
    const v = opts?.minLsn;
    return v === undefined || v === null ? undefined : parseLsn(v);
  }

  private route(minLsn: bigint | undefined): { replica?: ReplicaState; decision: RoutingDecision } {
    const healthy = this.replicas.filter((r) => r.status === 'up' && r.replayLsn !== null);
    if (healthy.length === 0) return { decision: 'primary_no_healthy_replica' };
    const eligible = minLsn === undefined ? healthy : healthy.filter((r) => r.replayLsn! >= minLsn);
    if (eligible.length === 0) return { decision: 'primary_lsn_not_caught_up' };
    this.rr = (this.rr + 1) % 1_000_000;
    return { replica: eligible[this.rr % eligible.length]!, decision: 'replica' };
  }

  private mostAdvancedHealthy(): ReplicaState | undefined {
    let best: ReplicaState | undefined;
    for (const r of this.replicas) {
      if (r.status !== 'up' || r.replayLsn === null) continue;
      if (!best || r.replayLsn > best.replayLsn!) best = r;
    }
    return best;
  }

  /** One fresh replay-position query on `r`'s main pool; true when it is past `minLsn`. Never throws. */
  private async recheck(r: ReplicaState, minLsn: bigint): Promise<boolean> {
    try {
      const res = await withTimeout(
        r.knex.raw<{ rows: ReplicaPollRow[] }>(REPLICA_POLL_SQL),
        this.opts.healthCheckTimeoutMs,
        `replay-position recheck on ${r.name}`,
      );
      const row = res.rows[0];
      if (!row) return false;
      this.observe(r, row);
      return r.status === 'up' && r.replayLsn !== null && r.replayLsn >= minLsn;
    } catch (err) {
      if (isConnectionError(err)) this.markDown(r, err, 'read');
      else
        this.opts.logger?.warn('db-router: replay-position recheck failed', {
          replica: r.name,
          error: describeError(err),
        });
      return false;
    }
  }

  private record(decision: RoutingDecision, replica: string | undefined, minLsn: string | undefined): void {
    this.counts[decision] += 1;
    const hook = this.opts.onDecision;
    if (!hook) return;
    try {
      hook({
        decision,
        ...(replica !== undefined ? { replica } : {}),
        ...(minLsn !== undefined ? { minLsn } : {}),
      });
    } catch (err) {
      this.opts.logger?.warn('db-router: onDecision hook threw', { error: describeError(err) });
    }
  }

  // ---- pools ------------------------------------------------------------------------------------------------------

  private checkPool(pool: ResolvedPool): ResolvedPool {
    // A private one-connection pool per server, so health polls never queue behind busy request traffic.
    return {
      ...pool,
      min: 0,
      max: 1,
      idleTimeoutMs: Math.max(pool.idleTimeoutMs, this.opts.healthCheckIntervalMs * 3),
    };
  }

  private makeKnex(conn: ConnectionInput, pool: ResolvedPool, replica?: ReplicaState): Knex {
    const logger = this.opts.logger;
    const poolConfig: Knex.PoolConfig = {
      min: pool.min,
      max: pool.max,
      idleTimeoutMillis: pool.idleTimeoutMs,
      acquireTimeoutMillis: pool.acquireTimeoutMs,
      propagateCreateError: true,
    };
    if (replica) {
      poolConfig.afterCreate = (raw: PgClient, done: (err: Error | null, conn: PgClient) => void) => {
        // knex does not close a connection whose afterCreate fails: end it here, or it leaks.
        const refuse = (err: Error) => {
          raw.end().catch(() => undefined);
          done(err, raw);
        };
        raw.query<ReplicaPollRow>(REPLICA_POLL_SQL).then(
          (res) => {
            const problem = this.checkNewReplicaConnection(replica, res.rows[0]);
            if (problem) refuse(problem);
            else done(null, raw);
          },
          (err: Error) => refuse(err),
        );
      };
    }
    return knexFactory({
      client: 'pg',
      connection: connectionConfig(conn, pool),
      pool: poolConfig,
      acquireConnectionTimeout: pool.acquireTimeoutMs,
      ...(logger
        ? {
            log: {
              warn: (m: unknown) => logger.warn('knex warning', { message: String(m) }),
              error: (m: unknown) => logger.warn('knex error', { message: String(m) }),
              deprecate: (m: unknown) => logger.warn('knex deprecation', { message: String(m) }),
              debug: () => undefined,
            },
          }
        : {}),
    });
  }

  /**
   * Every new connection to a replica re-checks that the server is the standby we polled: a restart (new
   * postmaster start time) means routing decisions made on the cached position may be stale (a restarted standby
   * can accept connections before replaying back to where it was), so the cache is reset to what this server
   * really has and this connection is refused (the read retries on the writer). A server that is no longer in
   * recovery is marked down. Returns the error to fail the connection with, or null.
   */
  private checkNewReplicaConnection(r: ReplicaState, row: ReplicaPollRow | undefined): Error | null {
    if (!row || !row.in_recovery) {
      const err = new ReplicaNotInRecoveryError(r.name);
      this.markDown(r, err, 'read');
      return err;
    }
    const lsn = row.lsn === null ? null : parseLsn(row.lsn);
    // While one postmaster runs, replay only moves forward, so a lower position than cached (seen by a query that
    // raced a later one) is harmless; a new start time means replay may have resumed from an earlier point.
    if (r.startedAt !== null && row.started_at !== r.startedAt) {
      r.startedAt = row.started_at;
      r.replayLsn = lsn;
      r.generation += 1;
      return new ReplicaRestartedError(r.name, 'restarted since its last poll');
    }
    r.startedAt = row.started_at;
    if (lsn !== null && (r.replayLsn === null || lsn > r.replayLsn) && r.status === 'up') r.replayLsn = lsn;
    return null;
  }

  // ---- health checks ----------------------------------------------------------------------------------------------

  private runTick(force: boolean): void {
    if (this.closed || this.ticking) return;
    this.tick(force).catch((err: unknown) => {
      this.opts.logger?.warn('db-router: health check tick failed', { error: describeError(err) });
    });
  }

  private tick(force: boolean): Promise<void> {
    const run = (async () => {
      await this.pollWriter();
      const now = Date.now();
      await Promise.all(
        this.replicas.map((r) =>
          force || r.status !== 'down' || now >= r.nextCheckAt ? this.pollReplica(r) : Promise.resolve(),
        ),
      );
    })();
    const tracked = run.finally(() => {
      if (this.ticking === tracked) this.ticking = null;
    });
    this.ticking = tracked;
    return tracked;
  }

  private async pollWriter(): Promise<void> {
    if (this.closed) return;
    try {
      const res = await withTimeout(
        this.writerCheckKnex.raw<{ rows: Array<{ lsn: string }> }>(
          'SELECT pg_current_wal_lsn()::text AS lsn',
        ),
        this.opts.healthCheckTimeoutMs,
        'writer health check',
      );
      const lsn = parseLsn(res.rows[0]!.lsn);
      const now = Date.now();
      this.writerCheckedAt = now;
      this.writerLsn = lsn;
      this.writerError = null;
      const last = this.samples[this.samples.length - 1];
      // Keep the first time each position was seen: lag = how long ago the primary had what a replica lacks.
      if (!last || lsn > last.lsn) {
        this.samples.push({ at: now, lsn });
        if (this.samples.length > MAX_SAMPLES) this.samples.splice(0, this.samples.length - MAX_SAMPLES);
      }
      if (this.writerStatus !== 'up') {
        if (this.writerStatus === 'down')
          this.opts.logger?.info('db-router: writer is up again', { writer: this.writerName });
        this.writerStatus = 'up';
      }
    } catch (err) {
      if (this.closed) return;
      this.writerCheckedAt = Date.now();
      this.writerError = describeError(err);
      if (this.writerStatus !== 'down') {
        this.opts.logger?.warn('db-router: writer health check failed', {
          writer: this.writerName,
          error: this.writerError,
        });
      }
      this.writerStatus = 'down';
    }
  }

  private async pollReplica(r: ReplicaState): Promise<void> {
    if (this.closed) return;
    const query = () =>
      withTimeout(
        r.checkKnex.raw<{ rows: ReplicaPollRow[] }>(REPLICA_POLL_SQL),
        this.opts.healthCheckTimeoutMs,
        `health check of ${r.name}`,
      );
    try {
      let res: { rows: ReplicaPollRow[] };
      try {
        res = await query();
      } catch (err) {
        // The check pool's old connection may have died with a restart: one immediate retry on a fresh one.
        if (!isConnectionError(err)) throw err;
        res = await query();
      }
      const row = res.rows[0];
      if (!row) throw new Error('health query returned no row');
      this.observe(r, row);
    } catch (err) {
      if (this.closed) return;
      this.markDown(r, err, 'check');
    }
  }

  /** Applies one poll result: replay position, restart detection, lag, and the resulting status. */
  private observe(r: ReplicaState, row: ReplicaPollRow): void {
    const now = Date.now();
    r.lastCheckedAt = now;
    if (!row.in_recovery) {
      this.markDown(r, new ReplicaNotInRecoveryError(r.name), 'check');
      return;
    }
    if (row.lsn === null) {
      this.markDown(r, new Error('no replay position yet (pg_last_wal_replay_lsn() is null)'), 'check');
      return;
    }
    const lsn = parseLsn(row.lsn);
    // Replay only moves forward while one postmaster runs (keep the highest position seen); after a restart it may
    // resume from an earlier point, so the cache is replaced and in-flight replica reads are redone.
    const restarted = r.startedAt !== null && r.startedAt !== row.started_at;
    if (restarted) r.generation += 1;
    r.replayLsn = !restarted && r.replayLsn !== null && r.replayLsn > lsn ? r.replayLsn : lsn;
    r.startedAt = row.started_at;
    this.computeLag(r, now);
    r.failures = 0;
    r.nextCheckAt = 0;
    const overBytes = r.lagBytes !== null && r.lagBytes > this.opts.maxLagBytes;
    const overMs = r.lagMs !== null && r.lagMs > this.opts.maxLagMs;
    if (overBytes || overMs) {
      const reason = `lagging: ${r.lagBytes ?? '?'} bytes, ${r.lagMs ?? '?'} ms behind the primary`;
      r.error = reason;
      this.setStatus(r, 'lagging', reason);
    } else {
      r.error = null;
      this.setStatus(r, 'up');
    }
  }

  private computeLag(r: ReplicaState, now: number): void {
    const replay = r.replayLsn;
    const latest = this.samples[this.samples.length - 1];
    if (replay === null || !latest) {
      r.lagBytes = null;
      r.lagMs = null;
      return;
    }
    r.lagBytes = latest.lsn > replay ? Number(latest.lsn - replay) : 0;
    const firstAhead = this.samples.find((s) => s.lsn > replay);
    r.lagMs = firstAhead ? Math.max(0, now - firstAhead.at) : 0;
  }

  private markDown(r: ReplicaState, err: unknown, source: 'check' | 'read'): void {
    const wasDown = r.status === 'down';
    if (source === 'check' || !wasDown) r.failures += 1;
    const { initialMs, maxMs, factor } = this.opts.backoff;
    const delay = Math.min(maxMs, initialMs * factor ** Math.max(0, r.failures - 1));
    r.nextCheckAt = Date.now() + delay;
    r.error = describeError(err);
    if (source === 'check') r.lastCheckedAt = Date.now();
    this.setStatus(r, 'down', r.error);
  }

  private setStatus(r: ReplicaState, to: ReplicaStatus, reason?: string): void {
    const from = r.status;
    if (from === to) return;
    r.status = to;
    const logger = this.opts.logger;
    if (to === 'up') logger?.info('db-router: replica is up', { replica: r.name, from });
    else logger?.warn(`db-router: replica is ${to}`, { replica: r.name, from, reason, failures: r.failures });
    const hook = this.opts.onReplicaStateChange;
    if (!hook) return;
    try {
      hook({ replica: r.name, from, to, ...(reason !== undefined ? { reason } : {}) });
    } catch (err) {
      logger?.warn('db-router: onReplicaStateChange hook threw', { error: describeError(err) });
    }
  }

  private replicaHealth(): ReplicaHealth[] {
    return this.replicas.map((r) => ({
      name: r.name,
      status: r.status,
      replayLsn: r.replayLsn === null ? null : formatLsn(r.replayLsn),
      lagBytes: r.lagBytes,
      lagMs: r.lagMs,
      lastCheckedAt: iso(r.lastCheckedAt),
      error: r.error,
      consecutiveFailures: r.failures,
      nextCheckAt: r.status === 'down' ? iso(r.nextCheckAt) : null,
    }));
  }
}

/**
 * Creates the router: a writer pool, one pool per replica, and an unref'd background health checker that polls
 * every `healthCheckIntervalMs` (first poll starts at once; replicas get reads only after their first successful
 * poll — await {@link DbRouter.checkNow} at start-up to route to replicas immediately).
 *
 * Safe behind PgBouncer in transaction mode: pools default to `min: 0` with an idle timeout; the router itself
 * keeps no session state (no `SET`, no named prepared statements — knex/pg use unnamed statements); use
 * `SET LOCAL` inside transactions for per-request settings.
 *
 * @throws TypeError naming the first invalid option.
 */
export function createDbRouter(options: DbRouterOptions): DbRouter {
  return new Router(options);
}
