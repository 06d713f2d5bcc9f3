import { assertInteger } from './validate';

/** Hit count of one key in its current window. */
export interface WindowCount {
  /** Hits in the current window, this one included (>= 1 after a hit). */
  totalHits: number;
  /** End of the window (the key's count starts again from 0 after it). */
  resetTime: Date;
}

interface Entry {
  hits: number;
  resetAt: number;
}

/**
 * An in-process fixed-window counter: a key's window starts at its first hit and lasts `windowMs`
 * (the same semantics as rate-limit-redis, whose Lua script sets the key with `PX windowMs` on the first
 * hit and only `INCR`s it afterwards). Synchronous, so a hit is counted atomically within the process.
 *
 * Memory stays bounded by the keys seen in the last two windows: keys live in a `current` map and are moved
 * to `previous` on the first access after each window; `previous` is dropped a window later, when every
 * entry in it has expired. No timers.
 */
export class FixedWindowCounter {
  readonly windowMs: number;
  #current = new Map<string, Entry>();
  #previous = new Map<string, Entry>();
  #rotatedAt: number;

  /** @throws TypeError when `windowMs` is not an integer >= 1. */
  constructor(windowMs: number, now = Date.now()) {
    this.windowMs = assertInteger('windowMs', windowMs, 1);
    this.#rotatedAt = now;
  }

  /** Counts one hit for `key` and returns its count in the current window. */
  hit(key: string, now = Date.now()): WindowCount {
    const entry = this.#entry(key, now, true);
    if (entry.resetAt <= now) {
      entry.hits = 0;
      entry.resetAt = now + this.windowMs;
    }
    entry.hits += 1;
    return { totalHits: entry.hits, resetTime: new Date(entry.resetAt) };
  }

  /** The count of `key` in its current window, or `undefined` when it has none. Counts nothing. */
  peek(key: string, now = Date.now()): WindowCount | undefined {
    const entry = this.#entry(key, now, false);
    if (!entry || entry.resetAt <= now) return undefined;
    return { totalHits: entry.hits, resetTime: new Date(entry.resetAt) };
  }

  /** Takes one hit back (never below 0). */
  decrement(key: string, now = Date.now()): void {
    const entry = this.#entry(key, now, false);
    if (entry && entry.resetAt > now && entry.hits > 0) entry.hits -= 1;
  }

  /** Forgets `key`. */
  delete(key: string): void {
    this.#current.delete(key);
    this.#previous.delete(key);
  }

  /** Forgets every key. */
  clear(): void {
    this.#current.clear();
    this.#previous.clear();
  }

  /** Number of keys held (expired ones included until they are swept). */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  #entry(key: string, now: number, create: true): Entry;
  #entry(key: string, now: number, create: false): Entry | undefined;
  #entry(key: string, now: number, create: boolean): Entry | undefined {
    this.#rotate(now);
    let entry = this.#current.get(key);
    if (entry) return entry;
    entry = this.#previous.get(key);
    if (entry) {
      this.#previous.delete(key);
      this.#current.set(key, entry);
      return entry;
    }
    if (!create) return undefined;
    entry = { hits: 0, resetAt: now + this.windowMs };
    this.#current.set(key, entry);
    return entry;
  }

  #rotate(now: number): void {
    const elapsed = now - this.#rotatedAt;
    if (elapsed < this.windowMs) return;
    // An entry still in `previous` was not touched since the last rotation, so its window (which began
    // before that rotation) has ended by now; a full idle window means both maps have expired.
    this.#previous = elapsed >= 2 * this.windowMs ? new Map<string, Entry>() : this.#current;
    this.#current = new Map();
    this.#rotatedAt = now;
  }
}
