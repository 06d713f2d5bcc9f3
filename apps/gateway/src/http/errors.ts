import type { ErrorRequestHandler } from 'express';
import { AppError, isAppError } from '@kv/errors';

/** PostgreSQL SQLSTATE classes and Node codes that mean "the database is unreachable or going away". */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P)/;
const UNAVAILABLE_NODE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);

/** True for errors of a dependency being down (connection refused, pool exhausted, server shutting down). */
export function isUnavailableError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, name } = err as { code?: unknown; name?: unknown };
  if (name === 'KnexTimeoutError') return true;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE.has(code)))
    return true;
  return false;
}

/**
 * Turns infrastructure failures (database unreachable, pool timeout) into 503 `unavailable` — safe to retry —
 * instead of a 500. Runs before `@kv/http`'s `errorHandler`, which writes the problem and logs the cause.
 */
export function infrastructureErrors(): ErrorRequestHandler {
  return (err: unknown, _req, _res, next) => {
    if (!isAppError(err) && isUnavailableError(err)) {
      next(new AppError('UNAVAILABLE', 'A dependency is unavailable; retry later.', { cause: err }));
      return;
    }
    next(err);
  };
}
