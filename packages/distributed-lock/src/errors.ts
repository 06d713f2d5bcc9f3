import { AppError } from '@kv/errors';

/**
 * Thrown by `withLock` when the lock stayed held by someone else for the whole `waitMs`.
 * An {@link AppError} with code `CONFLICT` (HTTP 409), so an API that surfaces it answers 409.
 * `isAppError()` recognises it (its `name` stays `AppError`); tell it apart with `instanceof`.
 */
export class LockNotAcquiredError extends AppError {
  /** The lock key that could not be acquired (contains the tenant id; not sent to clients). */
  readonly key: string;
  /** How long `withLock` waited, in ms. */
  readonly waitedMs: number;

  constructor(key: string, waitedMs: number) {
    super('CONFLICT', 'Another operation holds this resource; retry later.');
    this.key = key;
    this.waitedMs = waitedMs;
  }
}

/**
 * Reason of a lease's `signal` once the lease is lost: it expired without being extended in time, an
 * extension found the key gone or held by another owner, or renewal kept failing until expiry.
 * An {@link AppError} with code `CONFLICT`.
 */
export class LeaseLostError extends AppError {
  /** The lock key whose lease was lost. */
  readonly key: string;

  constructor(key: string, detail: string, cause?: unknown) {
    super('CONFLICT', `The lock lease was lost: ${detail}`, { cause });
    this.key = key;
  }
}

/**
 * Thrown by `fencedUpdate` / `assertFenced` when the protected row has already been written with a newer
 * fencing token, i.e. the caller's lease was superseded (it paused past its TTL and another holder took
 * over). An {@link AppError} with code `CONFLICT`. The write did not happen.
 */
export class StaleLeaseError extends AppError {
  /** The caller's (stale) fencing token. */
  readonly token: number;
  /** The newest token the row has seen, when it could be read. */
  readonly newestToken: number | undefined;

  constructor(token: number, newestToken: number | undefined) {
    super('CONFLICT', 'This operation was superseded by a newer lock holder; its write was rejected.');
    this.token = token;
    this.newestToken = newestToken;
  }
}
