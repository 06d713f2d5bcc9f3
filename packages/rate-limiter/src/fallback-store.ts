import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { FixedWindowCounter, type WindowCount } from './fixed-window';
import type { RateLimitHit, RateLimitStore, StoreInitOptions } from './store';
import { assertInteger, assertMethod, assertObject, assertOptionalFunction } from './validate';

/**
 * The part of a Redis client the store uses: ioredis' `call` (a `Redis` or `Cluster` fits). Create it so a
 * dead Redis fails fast: `enableOfflineQueue: false`, `maxRetriesPerRequest: 0` or `1` and a
 * `commandTimeout` (e.g. 200 ms); else requests wait while the client queues commands and reconnects.
 */
export interface RedisCallClient {
  call(command: string, ...args: string[]): Promise<unknown>;
  /**
   * When present (ioredis clients are event emitters), the store listens for `ready` to check Redis at once
   * after a (re)connect instead of waiting for the next probe. Removed again by `shutdown()`.
   */
  on?(event: 'ready', listener: () => void): unknown;
  removeListener?(event: 'ready', listener: () => void): unknown;
}

/** Passed to {@link FallbackStoreOptions.onStateChange}. */
export interface FallbackStateChange {
  /** The store's {@link FallbackStore.name}. */
  name: string;
  /** `true`: Redis failed and the store now counts in-process; `false`: it counts in Redis again. */
  degraded: boolean;
  /** The Redis error that degraded the store (only when `degraded`). Log it; never send it to clients. */
  error?: unknown;
}

/** Options of {@link FallbackStore}; validated once, at construction. */
export interface FallbackStoreOptions {
  /** The client the counts go through. The store never closes it. See {@link RedisCallClient}. */
  redis: RedisCallClient;
  /**
   * Text in front of every Redis key, e.g. `rl:` (then keys read `rl:ip:203.0.113.7`, `rl:{tenant}:user:id`).
   * Instances that must share a limit must use the same prefix. Must not contain `{` or `}` (it would
   * break the keys' Cluster hash tag). Default `rl:`.
   */
  prefix?: string;
  /**
   * Requests per window allowed per key while Redis is unavailable, counted by this process alone
   * (integer >= 1). With N instances the effective global limit is up to N × this, so a common choice is
   * the global limit divided by the expected instance count.
   */
  fallbackLimit: number;
  /** Low-cardinality label for hooks, stats and metrics (e.g. `user`). Default: the prefix. */
  name?: string;
  /**
   * While degraded, at most one background probe (reloading the Lua scripts) runs per this many ms,
   * started by incoming hits or by {@link FallbackStore.probe}. Integer >= 1; default 1000.
   */
  probeIntervalMs?: number;
  /**
   * Called synchronously for every hit counted by the fallback (wire it to a counter such as
   * `rate_limit_fallback_total{limiter}`). An exception thrown here is ignored.
   */
  onFallback?: (name: string) => void;
  /** Called when the store degrades or recovers (log it, set a gauge). An exception thrown here is ignored. */
  onStateChange?: (change: FallbackStateChange) => void;
}

/** Snapshot returned by {@link FallbackStore.stats}. Counters only grow. */
export interface FallbackStoreStats {
  name: string;
  degraded: boolean;
  /** When the current degraded period began; `undefined` while healthy. */
  degradedSince: Date | undefined;
  /** Hits counted by the in-process fallback since start. */
  fallbackHits: number;
  /** Redis failures seen (failed increments, gets, decrements and probes). */
  redisErrors: number;
  /** Times the store went from degraded back to Redis. */
  recoveries: number;
}

type RedisInitOptions = Parameters<RedisStore['init']>[0];

/**
 * A rate-limit store that counts in Redis and, when Redis fails, in process.
 *
 * Normal operation delegates to rate-limit-redis' `RedisStore`, whose `increment` is one Lua script
 * (`SET key 1 PX windowMs` on the first hit of a window, `INCR` afterwards): check and count happen in one
 * atomic step in Redis, so concurrent requests on any number of instances cannot overshoot the limit, and
 * windows are fixed (they start at a key's first hit; `INCR` never extends them).
 *
 * **Failure mode: neither fail-open nor fail-closed.** When a Redis command fails (connection refused,
 * reset, timeout, "offline queue disabled", any error reply) the hit is counted by an in-process
 * fixed-window counter instead and reported with `source: 'fallback'`; the limiter then applies
 * {@link FallbackStoreOptions.fallbackLimit}. Requests are neither rejected because Redis is down (no 500,
 * no 503) nor let through unlimited. While degraded, hits go straight to the fallback (no per-request
 * Redis timeout) and a background probe retries Redis every `probeIntervalMs`; once it answers, counting
 * returns to Redis (whose counts restart if Redis lost its data).
 *
 * One instance per limiter (express-rate-limit refuses shared stores).
 */
export class FallbackStore implements RateLimitStore {
  readonly prefix: string;
  readonly localKeys = false;
  readonly fallbackLimit: number;
  readonly name: string;
  readonly probeIntervalMs: number;
  readonly #redis: RedisStore;
  readonly #client: RedisCallClient;
  readonly #onReady = (): void => {
    if (this.#degradedSince !== undefined) void this.probe();
  };
  readonly #onFallback: ((name: string) => void) | undefined;
  readonly #onStateChange: ((change: FallbackStateChange) => void) | undefined;
  #windowMs: number | undefined;
  #local: FixedWindowCounter | undefined;
  #degradedSince: number | undefined;
  #nextProbeAt = 0;
  #probing: Promise<boolean> | undefined;
  #fallbackHits = 0;
  #redisErrors = 0;
  #recoveries = 0;

  /** @throws TypeError when an option is missing or invalid. */
  constructor(options: FallbackStoreOptions) {
    assertObject('options', options);
    assertObject('redis', options.redis);
    assertMethod('redis.call', options.redis, 'call');
    const prefix = options.prefix ?? 'rl:';
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw new TypeError('prefix must be a string without "{" or "}"');
    }
    this.prefix = prefix;
    this.fallbackLimit = assertInteger('fallbackLimit', options.fallbackLimit, 1);
    this.probeIntervalMs = assertInteger('probeIntervalMs', options.probeIntervalMs ?? 1000, 1);
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
      throw new TypeError('name must be a non-empty string');
    }
    this.name = options.name ?? prefix;
    assertOptionalFunction('onFallback', options.onFallback);
    assertOptionalFunction('onStateChange', options.onStateChange);
    this.#onFallback = options.onFallback;
    this.#onStateChange = options.onStateChange;
    const client = options.redis;
    this.#client = client;
    this.#redis = new RedisStore({
      prefix,
      sendCommand: (command: string, ...args: string[]) =>
        client.call(command, ...args) as Promise<RedisReply>,
    });
    if (typeof client.on === 'function') client.on('ready', this.#onReady);
  }

  /**
   * Sets the window and loads the Lua scripts. When Redis is unreachable it resolves anyway, degraded
   * (the probe loads the scripts later).
   * @throws TypeError when `windowMs` is not an integer >= 1.
   */
  async init(options: StoreInitOptions): Promise<void> {
    const windowMs = assertInteger('windowMs', options.windowMs, 1);
    this.#windowMs = windowMs;
    this.#local = new FixedWindowCounter(windowMs);
    try {
      await this.#redis.init(this.#redisInitOptions());
    } catch (error) {
      this.#degrade(error);
    }
  }

  /**
   * Counts one hit: in Redis (`source: 'primary'`), or in process (`source: 'fallback'`) when Redis fails or
   * the store is degraded. Rejects only when used before {@link init}.
   */
  async increment(key: string): Promise<RateLimitHit> {
    const local = this.#use();
    if (this.#degradedSince === undefined) {
      try {
        const { totalHits, resetTime } = await this.#redis.increment(key);
        return {
          totalHits,
          resetTime: resetTime ?? new Date(Date.now() + (this.#windowMs ?? 0)),
          source: 'primary',
        };
      } catch (error) {
        this.#degrade(error);
      }
    } else {
      this.#probeInBackground();
    }
    this.#fallbackHits += 1;
    this.#emit(() => this.#onFallback?.(this.name));
    return { ...local.hit(key), source: 'fallback' };
  }

  /** Takes one hit back where hits are counted now; a Redis failure degrades the store and is swallowed. */
  async decrement(key: string): Promise<void> {
    const local = this.#use();
    if (this.#degradedSince === undefined) {
      try {
        await this.#redis.decrement(key);
        return;
      } catch (error) {
        this.#degrade(error);
      }
    }
    local.decrement(key);
  }

  /**
   * Forgets `key` in process and in Redis.
   * @throws the Redis error when Redis could not delete the key (the store then degrades).
   */
  async resetKey(key: string): Promise<void> {
    this.#use().delete(key);
    try {
      await this.#redis.resetKey(key);
    } catch (error) {
      this.#degrade(error);
      throw error;
    }
  }

  /** `key`'s count where hits are counted now, without counting. */
  async get(key: string): Promise<WindowCount | undefined> {
    const local = this.#use();
    if (this.#degradedSince === undefined) {
      try {
        const info = await this.#redis.get(key);
        if (!info || !(info.totalHits > 0) || !info.resetTime || info.resetTime.getTime() <= Date.now()) {
          return undefined;
        }
        return { totalHits: info.totalHits, resetTime: info.resetTime };
      } catch (error) {
        this.#degrade(error);
      }
    }
    return local.peek(key);
  }

  /** `true` while hits are counted in process because Redis failed. */
  isDegraded(): boolean {
    return this.#degradedSince !== undefined;
  }

  /** Counters and state for health checks and metrics. */
  stats(): FallbackStoreStats {
    return {
      name: this.name,
      degraded: this.isDegraded(),
      degradedSince: this.#degradedSince === undefined ? undefined : new Date(this.#degradedSince),
      fallbackHits: this.#fallbackHits,
      redisErrors: this.#redisErrors,
      recoveries: this.#recoveries,
    };
  }

  /**
   * Checks Redis now by reloading the Lua scripts (2 commands). Resolves `true` when Redis answered (a
   * degraded store then counts in Redis again), `false` when it failed (a healthy store then degrades).
   * Concurrent calls share one probe. Never rejects; before {@link init} it resolves `false`.
   */
  probe(): Promise<boolean> {
    if (this.#windowMs === undefined) return Promise.resolve(false);
    this.#probing ??= this.#runProbe().finally(() => {
      this.#probing = undefined;
    });
    return this.#probing;
  }

  /** Drops the in-process counts and stops listening to the client. Does not close the Redis client. */
  shutdown(): void {
    this.#local?.clear();
    if (typeof this.#client.removeListener === 'function')
      this.#client.removeListener('ready', this.#onReady);
  }

  async #runProbe(): Promise<boolean> {
    try {
      // Re-running init reloads both scripts: after a failed init (or a Redis restart) rate-limit-redis
      // would otherwise keep awaiting the rejected promise of its first SCRIPT LOAD forever.
      await this.#redis.init(this.#redisInitOptions());
    } catch (error) {
      this.#degrade(error);
      this.#nextProbeAt = Date.now() + this.probeIntervalMs;
      return false;
    }
    if (this.#degradedSince !== undefined) {
      this.#degradedSince = undefined;
      this.#recoveries += 1;
      this.#emit(() => this.#onStateChange?.({ name: this.name, degraded: false }));
    }
    return true;
  }

  #probeInBackground(): void {
    if (this.#probing || Date.now() < this.#nextProbeAt) return;
    void this.probe();
  }

  #degrade(error: unknown): void {
    this.#redisErrors += 1;
    if (this.#degradedSince !== undefined) return;
    const now = Date.now();
    this.#degradedSince = now;
    this.#nextProbeAt = now + this.probeIntervalMs;
    this.#emit(() => this.#onStateChange?.({ name: this.name, degraded: true, error }));
  }

  #emit(fn: () => void): void {
    try {
      fn();
    } catch {
      // A broken metrics or logging hook must not turn a counted request into an error.
    }
  }

  #redisInitOptions(): RedisInitOptions {
    // RedisStore.init reads only `windowMs` from express-rate-limit's options.
    return { windowMs: this.#windowMs } as RedisInitOptions;
  }

  #use(): FixedWindowCounter {
    if (!this.#local) throw new Error(`FallbackStore "${this.name}" used before init()`);
    return this.#local;
  }
}
