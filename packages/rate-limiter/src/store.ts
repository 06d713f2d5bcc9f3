import { FixedWindowCounter, type WindowCount } from './fixed-window';
import { assertObject } from './validate';

/** Default window of every limit, in ms: fixed one-minute windows (the API contract). */
export const DEFAULT_WINDOW_MS = 60_000;

/** Where a hit was counted: the shared counter (Redis) or the in-process fallback. */
export type HitSource = 'primary' | 'fallback';

/** One counted hit. */
export interface RateLimitHit extends WindowCount {
  /** `fallback` when the shared counter failed and the process-local one counted this hit. */
  source: HitSource;
}

/** What a store needs to know about the limiter it serves. */
export interface StoreInitOptions {
  /** Window length in ms (integer >= 1). Windows are fixed: a key's window starts at its first hit. */
  windowMs: number;
}

/**
 * The counting seam under a limiter. Shaped like express-rate-limit's `Store` (so an implementation can be
 * handed to `rateLimit({ store })` as is) plus where each hit was counted. One store per limiter.
 */
export interface RateLimitStore {
  /** Text the store puts in front of every key (used in the Redis key and by the double-count check). */
  readonly prefix: string;
  /** `true` when counts are local to this process (they do not hold across instances). */
  readonly localKeys: boolean;
  /**
   * The limit that applies instead of the configured one to hits counted with `source: 'fallback'`.
   * `undefined` for stores that never fall back.
   */
  readonly fallbackLimit: number | undefined;
  /** Called once by the limiter before use (not awaited by express-rate-limit). Never rejects for I/O errors. */
  init(options: StoreInitOptions): void | Promise<void>;
  /** Counts one hit for `key` atomically and returns its count in the current window. */
  increment(key: string): Promise<RateLimitHit>;
  /** Takes one hit back. */
  decrement(key: string): Promise<void>;
  /** Forgets `key`'s count. */
  resetKey(key: string): Promise<void>;
  /** `key`'s count in the current window without counting, or `undefined` when it has none. */
  get(key: string): Promise<WindowCount | undefined>;
  /** Releases what the store holds (never the Redis client, which belongs to the caller). */
  shutdown?(): void;
}

/** Options of {@link MemoryRateLimitStore}. */
export interface MemoryRateLimitStoreOptions {
  /** Key prefix (only used by express-rate-limit's double-count check). Default `''`. */
  prefix?: string;
}

/**
 * A process-local store for unit tests and single-process tools. Its counts do not hold across instances,
 * so it must never be used to prove that a limit holds globally.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly prefix: string;
  readonly localKeys = true;
  readonly fallbackLimit = undefined;
  #counter: FixedWindowCounter | undefined;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    assertObject('options', options);
    this.prefix = options.prefix ?? '';
  }

  /** @throws TypeError when `windowMs` is not an integer >= 1. */
  init(options: StoreInitOptions): void {
    this.#counter = new FixedWindowCounter(options.windowMs);
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so misuse rejects instead of throwing
  async increment(key: string): Promise<RateLimitHit> {
    return { ...this.#use().hit(key), source: 'primary' };
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async decrement(key: string): Promise<void> {
    this.#use().decrement(key);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async resetKey(key: string): Promise<void> {
    this.#use().delete(key);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async get(key: string): Promise<WindowCount | undefined> {
    return this.#use().peek(key);
  }

  shutdown(): void {
    this.#counter?.clear();
  }

  #use(): FixedWindowCounter {
    if (!this.#counter) throw new Error('MemoryRateLimitStore used before init()');
    return this.#counter;
  }
}
