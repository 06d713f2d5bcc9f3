import { isConnectionError } from '@kv/db-router';
import { AppError, errors, isAppError } from '@kv/errors';

/** SQLSTATEs raised by the ledger's triggers (see migrations/0001_ledger.ts). */
export const LEDGER_SQLSTATE = {
  PERIOD_CLOSED: 'KVA01',
  UNBALANCED: 'KVA02',
  IMMUTABLE: 'KVA03',
  REVERSAL_OF_REVERSAL: 'KVA04',
  UNKNOWN_ACCOUNT: 'KVA05',
  ISOLATION: 'KVA06',
  STALE_FENCE: 'KVA07',
} as const;

interface PgError {
  code?: string;
  constraint?: string;
  message?: string;
  name?: string;
}

/** Failures worth retrying the whole transaction for (deadlock, serialization failure, a lost source race). */
export function isRetryableDbError(err: unknown): boolean {
  const e = err as PgError | null;
  // Two events for one stock movement raced: the retry finds the entry the other one posted.
  if (e?.code === '23505' && e.constraint === 'journal_entries_one_per_source') return true;
  return e?.code === '40P01' || e?.code === '40001';
}

const UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '57014', // query_canceled (statement timeout)
  '55P03', // lock_not_available (lock timeout)
  '53300', // too_many_connections
  '53100', // disk_full
  '53200', // out_of_memory
  '40P01',
  '40001',
]);

/**
 * Maps a PostgreSQL / driver / pool error onto the contract's errors; `undefined` when it is not one we
 * expect (it then becomes a logged 500). Trigger errors carry their own SQLSTATE; unique violations map by
 * constraint name.
 */
export function toAppError(err: unknown): AppError | undefined {
  if (isAppError(err)) return err;
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as PgError;
  const code = e.code ?? '';
  switch (code) {
    case LEDGER_SQLSTATE.PERIOD_CLOSED:
      return new AppError('PERIOD_CLOSED', 'The entry is dated inside a closed period.', { cause: err });
    case LEDGER_SQLSTATE.UNBALANCED:
      return new AppError('UNBALANCED_ENTRY', 'Debits and credits of the entry differ.', { cause: err });
    case LEDGER_SQLSTATE.IMMUTABLE:
      return new AppError('CONFLICT', 'Posted ledger rows cannot be changed.', { cause: err });
    case LEDGER_SQLSTATE.REVERSAL_OF_REVERSAL:
      return new AppError('CONFLICT', 'A reversal cannot itself be reversed.', { cause: err });
    case LEDGER_SQLSTATE.UNKNOWN_ACCOUNT:
      return new AppError('NOT_FOUND', 'No such account.', { cause: err });
    case LEDGER_SQLSTATE.STALE_FENCE:
      return new AppError('CONFLICT', 'This operation was superseded by a newer lock holder.', {
        cause: err,
      });
    case '23505':
      if (e.constraint === 'accounts_tenant_code_key') {
        return new AppError('CONFLICT', 'An account with this code already exists.', { cause: err });
      }
      if (e.constraint === 'journal_entries_one_reversal') {
        return new AppError('CONFLICT', 'This journal entry has already been reversed.', { cause: err });
      }
      return undefined;
    case '23503':
      return new AppError('NOT_FOUND', 'A referenced resource does not exist.', { cause: err });
  }
  if (e.name === 'KnexTimeoutError') return errors.unavailable('The database is busy; retry later.', err);
  // Lost connections (refused, reset, terminated backend, "not queryable" after it): db-router's classifier.
  if (UNAVAILABLE_CODES.has(code) || isConnectionError(err)) {
    return errors.unavailable('The database is unavailable; retry later.', err);
  }
  return undefined;
}
