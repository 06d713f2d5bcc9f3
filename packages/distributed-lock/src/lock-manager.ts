import { errors } from '@kv/errors';
import type { Cluster, Redis } from 'ioredis';
import type { Knex } from 'knex';
import Redlock, { ExecutionError, Lock, ResourceLockedError, type ExecutionStats } from 'redlock';
import { LeaseLostError, LockNotAcquiredError } from './errors';
import { checkIdentifier, nextFencingToken } from './fencing';
import { parseLockKey } from './lock-key';

/** Minimal logger (`@kv/logger`'s `Logger` fits). */
export interface LockLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** What every metrics hook receives. `key` contains the tenant id: never use it as a metric label. */
export interface LockEvent {
  /** Low-cardinality lock name: the first part after the tenant (`period-close`). */
  name: string;
  /** Full lock key (`lock:{tenant}:period-close:2026-01`), for logs. */
  key: string;
}

/**
 * Optional hooks the app wires to its metrics (e.g. a `@kv/metrics` histogram of wait time and counters by
 * outcome). Hooks are called synchronously; an exception in a hook is logged and ignored.
 */
export interface LockMetrics {
  /** A lease was acquired after waiting `waitedMs` ms. */
  acquired?(event: LockEvent & { waitedMs: number }): void;
  /** `acquire` gave up: another holder kept the lock for the whole wait (`waitedMs` ms). */
  busy?(event: LockEvent & { waitedMs: number }): void;
  /** `acquire` failed: Redis (no quorum) or PostgreSQL (fencing token) was unavailable. */
  failed?(event: LockEvent & { waitedMs: number; error: unknown }): void;
  /** A lease was lost while held (its signal aborted) after `heldMs` ms. */
  lost?(event: LockEvent & { heldMs: number }): void;
  /** A lease was released by its holder after `heldMs` ms. */
  released?(event: LockEvent & { heldMs: number }): void;
}

/** Options of {@link createLockManager}; validated once, at construction. */
export interface LockManagerOptions {
  /**
   * One Redis (or Cluster) client, or several independent masters for the Redlock quorum (a majority must
   * agree). The manager does not close them. Create them so a dead Redis fails fast (e.g.
   * `enableOfflineQueue: false` or a small `maxRetriesPerRequest`), else commands queue while it reconnects.
   */
  redis: Redis | Cluster | ReadonlyArray<Redis | Cluster>;
  /**
   * Pool used to take fencing tokens, one auto-committed statement per acquire (never a caller's
   * transaction). Its role needs the grants of `createFencingTable(..., { grantTo })`.
   */
  knex: Knex;
  /** Schema holding `lock_fencing` (created by `createFencingTable`), e.g. `accounting`. */
  schema: string;
  /** Prefix of every Redis key, e.g. `kv:`. Must not contain `{` or `}` (it would break the hash tag). Default `''`. */
  prefix?: string;
  /** Lease TTL when `acquire`/`withLock` get none, in ms (integer >= 50). Default 30 000. */
  defaultTtlMs?: number;
  /** How long `acquire`/`withLock` wait for a held lock when given no `waitMs`, in ms. Default 0 (try once). */
  defaultWaitMs?: number;
  /** Polling while waiting for a held lock. */
  retry?: {
    /** Delay between attempts, in ms. Default 100. */
    delayMs?: number;
    /** Random +/- jitter added to each delay, in ms (spreads contenders). Default 50. */
    jitterMs?: number;
  };
  /**
   * Longest one Redis acquire or release round may take, in ms; a slower one counts as failed (a late
   * acquire is released again). Default 1 000.
   */
  redisTimeoutMs?: number;
  /** Receives warnings (renewal errors, failed releases, throwing hooks). Default: silent. */
  logger?: LockLogger;
  /** Metrics hooks. Default: none. */
  metrics?: LockMetrics;
}

/** Per-call options of `acquire` and `withLock`. */
export interface AcquireOptions {
  /** Lease TTL in ms (integer >= 50). Default: the manager's `defaultTtlMs`. */
  ttlMs?: number;
  /** How long to keep trying while another holder has the lock, in ms; 0 = try once. Default: the manager's `defaultWaitMs`. */
  waitMs?: number;
}

/**
 * A held lock. Obtained from `acquire` (the holder extends it itself) or `withLock` (renewed automatically).
 */
export interface Lease {
  /** The lock key (built by `lockKey`). */
  readonly key: string;
  /**
   * Fencing token: strictly increasing per key across all holders, counted in PostgreSQL so it never goes
   * back (not even when Redis restarts). A plain `number`: PostgreSQL stores it as `bigint`, and it is
   * checked to be a safe integer (< 2^53; one token per acquisition, so unreachable in practice). Store it
   * in the protected row (`fence_token bigint`) via `fencedUpdate`/`assertFenced`.
   */
  readonly token: number;
  /**
   * When the lease ends unless extended: ms since the epoch, by this process's clock, already reduced by the
   * clock-drift allowance. Moves forward on each successful extension.
   */
  readonly expiresAt: number;
  /**
   * Aborted (with a {@link LeaseLostError} as `reason`) when the lease is lost: it reached `expiresAt`
   * without an extension, an extension found the key gone or taken by another holder, or renewal failed
   * until expiry. Not aborted by `release()`. Long work should check it and stop.
   */
  readonly signal: AbortSignal;
  /**
   * Extends the lease to `ttlMs` from now (owner-only: fails if the key now holds another owner's value).
   * @param ttlMs default: the TTL the lease was acquired with.
   * @returns `true` when extended; `false` when the lease is already lost or released (the signal is then aborted,
   *   unless released).
   * @throws AppError `UNAVAILABLE` when Redis could not be reached; the lease stays valid until `expiresAt`, so
   *   retrying is fine.
   */
  extend(ttlMs?: number): Promise<boolean>;
  /**
   * Releases the lock, owner-only: deletes the key only if it still holds this lease's random value, so it
   * never deletes another holder's lock. Never throws; idempotent.
   * @returns `true` when this lease's key was deleted; `false` when it was no longer this lease's (expired,
   *   taken over) or Redis could not be reached (the key then expires after its TTL).
   */
  release(): Promise<boolean>;
}

/** The lock manager. Create one per process with {@link createLockManager}. */
export interface LockManager {
  /**
   * Tries to take the lock `key`, retrying while another holder has it for up to `waitMs`.
   * The returned lease is NOT renewed automatically: extend it yourself or use `withLock`.
   * @param key built by `lockKey(tenantId, ...parts)`.
   * @returns the lease, or `null` when another holder kept the lock for the whole wait.
   * @throws TypeError when `key` is not tenant-scoped or the options are invalid.
   * @throws AppError `UNAVAILABLE` when Redis (no quorum) or PostgreSQL (fencing token) was unavailable for the whole wait.
   */
  acquire(key: string, options?: AcquireOptions): Promise<Lease | null>;
  /**
   * Runs `fn` while holding `key`: acquires (waiting up to `waitMs`), renews the lease every `ttlMs / 2`
   * while `fn` runs, aborts `lease.signal` if the lease is lost (renewal refused or failing until expiry), and
   * always releases it afterwards (also when `fn` throws). Returns what `fn` returns, even when the signal
   * was aborted meanwhile: `fn` decides what a lost lease means (protected writes use the fencing token).
   * @throws LockNotAcquiredError (AppError `CONFLICT`) when another holder kept the lock for the whole wait.
   * @throws AppError `UNAVAILABLE` when Redis or PostgreSQL was unavailable; whatever `fn` throws.
   */
  withLock<T>(key: string, options: AcquireOptions, fn: (lease: Lease) => Promise<T>): Promise<T>;
}

const MIN_TTL_MS = 50;

function checkInt(value: unknown, what: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`${what} must be an integer >= ${min} (got ${String(value)})`);
  }
  return value;
}

interface Settings {
  redlock: Redlock;
  knex: Knex;
  schema: string;
  prefix: string;
  defaultTtlMs: number;
  defaultWaitMs: number;
  delayMs: number;
  jitterMs: number;
  redisTimeoutMs: number;
  logger: LockLogger | undefined;
  metrics: LockMetrics;
}

type Outcome = { kind: 'held' } | { kind: 'error'; error: unknown };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const TIMED_OUT = Symbol('timed out');

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why a Redlock round failed: `held` when some Redis refused because the key has another value (contention,
 * or for extend/release: not ours any more); `error` when no Redis said so (connection errors, timeouts).
 */
async function classify(error: unknown, timeoutMs: number): Promise<Outcome> {
  if (!(error instanceof ExecutionError)) return { kind: 'error', error };
  const last = error.attempts[error.attempts.length - 1];
  const stats: ExecutionStats | typeof TIMED_OUT | undefined = last
    ? await withTimeout(last, timeoutMs)
    : undefined;
  if (stats === undefined || stats === TIMED_OUT) return { kind: 'error', error };
  const reasons = [...stats.votesAgainst.values()];
  if (reasons.some((e) => e instanceof ResourceLockedError)) return { kind: 'held' };
  return { kind: 'error', error: reasons[0] ?? error };
}

class ManagedLease implements Lease {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly acquiredAt = Date.now();
  private lossTimer: NodeJS.Timeout | undefined;
  private state: 'held' | 'lost' | 'released' = 'held';
  private expiresAtMs: number;

  constructor(
    private readonly s: Settings,
    readonly key: string,
    private readonly name: string,
    readonly token: number,
    private readonly resource: string,
    private readonly value: string,
    expiresAt: number,
    private readonly ttlMs: number,
  ) {
    this.signal = this.controller.signal;
    this.expiresAtMs = expiresAt;
    this.armLossTimer();
  }

  get expiresAt(): number {
    return this.expiresAtMs;
  }

  /** A fresh Redlock handle per call: Redlock mutates the handles it is given, this lease keeps its own state. */
  private handle(): Lock {
    return new Lock(this.s.redlock, [this.resource], this.value, [], this.expiresAtMs);
  }

  private armLossTimer(): void {
    clearTimeout(this.lossTimer);
    this.lossTimer = setTimeout(
      () => this.markLost('it expired before it was extended'),
      Math.max(0, this.expiresAtMs - Date.now()),
    );
    this.lossTimer.unref();
  }

  private markLost(detail: string, cause?: unknown): void {
    if (this.state !== 'held') return;
    this.state = 'lost';
    clearTimeout(this.lossTimer);
    hook(this.s, 'lost', { name: this.name, key: this.key, heldMs: Date.now() - this.acquiredAt });
    this.controller.abort(new LeaseLostError(this.key, detail, cause));
  }

  async extend(ttlMs: number = this.ttlMs): Promise<boolean> {
    checkInt(ttlMs, 'ttlMs', MIN_TTL_MS);
    if (this.state !== 'held') return false;
    if (Date.now() >= this.expiresAtMs) {
      this.markLost('it expired before it was extended');
      return false;
    }
    let result: Lock | typeof TIMED_OUT;
    try {
      result = await withTimeout(
        this.s.redlock.extend(this.handle(), ttlMs, { retryCount: 0 }),
        this.s.redisTimeoutMs,
      );
    } catch (err) {
      const outcome = await classify(err, this.s.redisTimeoutMs);
      if (outcome.kind === 'held') {
        this.markLost('its key is gone or held by another owner', err);
        return false;
      }
      return this.transientFailure(outcome.error);
    }
    if (result === TIMED_OUT)
      return this.transientFailure(new Error(`redis extend timed out after ${this.s.redisTimeoutMs} ms`));
    // A success that arrives after the lease was declared lost does not revive it: its holder was told to stop.
    if (this.state !== 'held') return false;
    this.expiresAtMs = result.expiration;
    this.armLossTimer();
    return true;
  }

  private transientFailure(cause: unknown): false {
    if (Date.now() >= this.expiresAtMs) {
      this.markLost('it could not be extended before it expired', cause);
      return false;
    }
    throw errors.unavailable('The lock service is unavailable; retry later.', cause);
  }

  async release(): Promise<boolean> {
    if (this.state === 'released') return false;
    if (this.state === 'held')
      hook(this.s, 'released', { name: this.name, key: this.key, heldMs: Date.now() - this.acquiredAt });
    this.state = 'released';
    clearTimeout(this.lossTimer);
    return releaseLock(this.s, this.handle(), this.key);
  }
}

/** Owner-only delete (Redlock's release script compares the value); `false` when not ours or Redis failed. */
async function releaseLock(s: Settings, lock: Lock, key: string): Promise<boolean> {
  try {
    const result = await withTimeout(s.redlock.release(lock, { retryCount: 0 }), s.redisTimeoutMs);
    if (result !== TIMED_OUT) return true;
    s.logger?.warn('lock release timed out; the key expires after its TTL', { lock_key: key });
    return false;
  } catch (err) {
    const outcome = await classify(err, s.redisTimeoutMs);
    if (outcome.kind === 'error') {
      s.logger?.warn('lock release failed; the key expires after its TTL', {
        lock_key: key,
        error: String(outcome.error),
      });
    }
    return false;
  }
}

function hook<K extends keyof LockMetrics>(
  s: Settings,
  name: K,
  event: Parameters<NonNullable<LockMetrics[K]>>[0],
): void {
  const fn = s.metrics[name] as ((e: typeof event) => void) | undefined;
  if (!fn) return;
  try {
    fn.call(s.metrics, event);
  } catch (err) {
    s.logger?.warn('lock metrics hook threw', { hook: name, error: String(err) });
  }
}

/**
 * One attempt: takes the Redis lock, then a fencing token. Returns the lease, or why it failed.
 * The token is taken after the Redis lock and checked against the lease's validity, so token order follows
 * lock order: a holder whose token arrives after its lease expired gives it up instead of using it.
 */
async function attempt(
  s: Settings,
  key: string,
  name: string,
  ttlMs: number,
): Promise<ManagedLease | Outcome> {
  const resource = s.prefix + key;
  let lock: Lock;
  try {
    const pending = s.redlock.acquire([resource], ttlMs, { retryCount: 0 });
    const result = await withTimeout(pending, s.redisTimeoutMs);
    if (result === TIMED_OUT) {
      void pending.then(
        (late) => releaseLock(s, late, key),
        () => undefined,
      );
      return { kind: 'error', error: new Error(`redis acquire timed out after ${s.redisTimeoutMs} ms`) };
    }
    lock = result;
  } catch (err) {
    return classify(err, s.redisTimeoutMs);
  }
  const { value, expiration } = lock;
  let token: number;
  try {
    token = await nextFencingToken(s.knex, s.schema, key);
  } catch (err) {
    await releaseLock(s, lock, key);
    return { kind: 'error', error: err };
  }
  if (Date.now() >= expiration) {
    await releaseLock(s, lock, key);
    return { kind: 'error', error: new Error('lease expired while its fencing token was taken') };
  }
  return new ManagedLease(s, key, name, token, resource, value, expiration, ttlMs);
}

async function acquireLease(s: Settings, key: string, options: AcquireOptions): Promise<ManagedLease | null> {
  const { name } = parseLockKey(key);
  const ttlMs = checkInt(options.ttlMs ?? s.defaultTtlMs, 'ttlMs', MIN_TTL_MS);
  const waitMs = checkInt(options.waitMs ?? s.defaultWaitMs, 'waitMs', 0);
  const started = Date.now();
  const deadline = started + waitMs;
  for (;;) {
    const outcome = await attempt(s, key, name, ttlMs);
    if (outcome instanceof ManagedLease) {
      hook(s, 'acquired', { name, key, waitedMs: Date.now() - started });
      return outcome;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const waitedMs = Date.now() - started;
      if (outcome.kind === 'held') {
        hook(s, 'busy', { name, key, waitedMs });
        return null;
      }
      hook(s, 'failed', { name, key, waitedMs, error: outcome.error });
      throw errors.unavailable('The lock service is unavailable; retry later.', outcome.error);
    }
    const jitter = Math.round((Math.random() * 2 - 1) * s.jitterMs);
    await sleep(Math.min(remaining, Math.max(1, s.delayMs + jitter)));
  }
}

/**
 * Keeps `lease` alive every `ttlMs / 2` until stopped. A refused extension aborts the lease's signal at once;
 * a failing one is retried until the lease expires (the lease's own timer then aborts the signal).
 */
function startRenewal(s: Settings, lease: ManagedLease, ttlMs: number): () => Promise<void> {
  const every = Math.max(1, Math.floor(ttlMs / 2));
  const retryEvery = Math.max(1, Math.min(every, s.delayMs));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  const schedule = (ms: number) => {
    timer = setTimeout(() => {
      inFlight = renew();
    }, ms);
  };
  const renew = async (): Promise<void> => {
    try {
      if (stopped) return;
      const ok = await lease.extend(ttlMs);
      if (ok && !stopped) schedule(every);
    } catch (err) {
      s.logger?.warn('lock renewal failed; retrying until the lease expires', {
        lock_key: lease.key,
        error: String(err),
      });
      if (!stopped && !lease.signal.aborted) schedule(retryEvery);
    }
  };
  schedule(every);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await inFlight;
  };
}

/**
 * Creates the lock manager: Redlock leases (owner-only release, renewal, abort on loss) plus fencing tokens
 * counted in PostgreSQL. Redlock stays an implementation detail: none of its types are part of this API.
 *
 * @throws TypeError when an option is invalid (checked once, here).
 * @example
 * const locks = createLockManager({ redis, knex, schema: 'accounting', prefix: 'kv:' });
 * await locks.withLock(lockKey(tenantId, 'period-close', '2026-01'), { ttlMs: 10_000, waitMs: 0 }, async (lease) => {
 *   await fencedUpdate(knex, 'accounting.periods', { tenant_id: tenantId, period: '2026-01' }, { status: 'closed' }, lease.token);
 * });
 */
export function createLockManager(options: LockManagerOptions): LockManager {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('createLockManager needs an options object');
  const clients = Array.isArray(options.redis)
    ? [...(options.redis as ReadonlyArray<Redis | Cluster>)]
    : [options.redis as Redis | Cluster];
  if (
    clients.length === 0 ||
    clients.some((c) => typeof c !== 'object' || c === null || typeof c.evalsha !== 'function')
  ) {
    throw new TypeError('redis must be an ioredis client or a non-empty array of them');
  }
  if (typeof options.knex !== 'function') throw new TypeError('knex must be a knex instance');
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix))
    throw new TypeError('prefix must be a string without "{" or "}"');
  const retry = options.retry ?? {};
  const metrics = options.metrics ?? {};
  if (typeof metrics !== 'object' || metrics === null)
    throw new TypeError('metrics must be an object of hooks');
  for (const [k, v] of Object.entries(metrics)) {
    if (v !== undefined && typeof v !== 'function') throw new TypeError(`metrics.${k} must be a function`);
  }
  if (options.logger !== undefined && typeof options.logger?.warn !== 'function')
    throw new TypeError('logger must have warn()');
  const s: Settings = {
    redlock: new Redlock(clients, { retryCount: 0 }),
    knex: options.knex,
    schema: checkIdentifier(options.schema, 'schema'),
    prefix,
    defaultTtlMs: checkInt(options.defaultTtlMs ?? 30_000, 'defaultTtlMs', MIN_TTL_MS),
    defaultWaitMs: checkInt(options.defaultWaitMs ?? 0, 'defaultWaitMs', 0),
    delayMs: checkInt(retry.delayMs ?? 100, 'retry.delayMs', 1),
    jitterMs: checkInt(retry.jitterMs ?? 50, 'retry.jitterMs', 0),
    redisTimeoutMs: checkInt(options.redisTimeoutMs ?? 1_000, 'redisTimeoutMs', 1),
    logger: options.logger,
    metrics,
  };

  return {
    acquire: (key, acquireOptions = {}) => acquireLease(s, key, acquireOptions),

    async withLock<T>(
      key: string,
      acquireOptions: AcquireOptions,
      fn: (lease: Lease) => Promise<T>,
    ): Promise<T> {
      if (typeof fn !== 'function') throw new TypeError('withLock needs a function');
      const started = Date.now();
      const lease = await acquireLease(s, key, acquireOptions);
      if (!lease) throw new LockNotAcquiredError(key, Date.now() - started);
      const stopRenewal = startRenewal(s, lease, acquireOptions.ttlMs ?? s.defaultTtlMs);
      try {
        return await fn(lease);
      } finally {
        await stopRenewal();
        await lease.release();
      }
    },
  };
}
