/**
 * Why a job attempt failed, as far as retrying goes. A `RetryableError` (the dependency was unreachable,
 * timed out, answered 5xx/429/409) is worth retrying; a `PermanentError` (4xx, malformed answer, no handler)
 * will fail the same way until someone fixes its cause, so it is not retried and its job is parked in
 * `worker.failed_jobs` until an operator retries it through the admin API.
 */
export class RetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryableError';
  }
}

/** See {@link RetryableError}. */
export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** True for errors that will not go away by retrying. Unknown errors count as retryable. */
export function isPermanent(err: unknown): boolean {
  return err instanceof PermanentError;
}

/** A short, loggable, storable message for an error (no stack; at most 2000 characters). */
export function errorMessage(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 2000 ? `${text.slice(0, 1997)}...` : text;
}
