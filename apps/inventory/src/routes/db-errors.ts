import { AppError, errors, isAppError } from '@kv/errors';
import { isConnectionError } from '@kv/db-router';
import type { ErrorRequestHandler } from 'express';

const RETRYABLE = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57014', // query_canceled (statement timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/**
 * Maps database failures onto contract errors; `undefined` for anything else. Transient ones (pool exhausted,
 * connection lost, lock/statement timeouts, and — should one ever happen — deadlocks) become 503
 * `unavailable`, which is safe to retry: the transaction rolled back. A stock CHECK violation means the
 * database refused an oversell: 409 `insufficient-stock`.
 */
export function toAppError(err: unknown): AppError | undefined {
  if (isAppError(err) || typeof err !== 'object' || err === null) return undefined;
  const { code, name, constraint } = err as { code?: unknown; name?: unknown; constraint?: unknown };
  if (name === 'KnexTimeoutError') return errors.unavailable('The database is busy; retry later.', err);
  // Lost connections (including a backend terminated mid-transaction, whose ROLLBACK then fails with
  // "not queryable"): the transaction did not commit, so 503 is safe to retry.
  if (isConnectionError(err)) return errors.unavailable(undefined, err);
  if (typeof code === 'string') {
    if (RETRYABLE.has(code)) return errors.unavailable(undefined, err);
    if (code === '23514' && typeof constraint === 'string' && constraint.startsWith('stock_')) {
      return new AppError('INSUFFICIENT_STOCK', 'Not enough available stock.', { cause: err });
    }
    if (code === '23505')
      return new AppError('CONFLICT', 'A resource with this key already exists.', { cause: err });
  }
  return undefined;
}

/** Error middleware placed before the problem+json handler: translates database errors, passes the rest on. */
export function translateDbErrors(): ErrorRequestHandler {
  return (err: unknown, _req, _res, next) => {
    next(toAppError(err) ?? err);
  };
}
