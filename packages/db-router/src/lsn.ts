import type { Knex } from 'knex';

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const MAX_LSN = (1n << 64n) - 1n;

/** True when `value` is a textual PostgreSQL LSN (`'X/Y'`, each part 1..8 hex digits), e.g. `'0/16B3748'`. */
export function isLsn(value: unknown): value is string {
  return typeof value === 'string' && LSN_PATTERN.test(value);
}

/**
 * Parses a textual LSN (`'X/Y'`, as `pg_lsn` prints it) into its 64-bit byte position.
 * @throws TypeError when `lsn` is not a valid LSN.
 */
export function parseLsn(lsn: string): bigint {
  const m = typeof lsn === 'string' ? LSN_PATTERN.exec(lsn) : null;
  if (!m) throw new TypeError(`db-router: invalid LSN ${JSON.stringify(lsn)} (expected 'X/Y' in hex)`);
  return (BigInt(`0x${m[1]!}`) << 32n) | BigInt(`0x${m[2]!}`);
}

/**
 * Formats a 64-bit WAL byte position as PostgreSQL prints a `pg_lsn` (upper-case hex, `'X/Y'`).
 * @throws RangeError when `position` is negative or above 2^64 - 1.
 */
export function formatLsn(position: bigint): string {
  if (position < 0n || position > MAX_LSN)
    throw new RangeError(`db-router: LSN position out of range: ${position}`);
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * Orders two textual LSNs: negative when `a` is before `b`, 0 when equal, positive when after
 * (returns -1, 0 or 1, so it can be used as an `Array.prototype.sort` comparator).
 * @throws TypeError when either is not a valid LSN.
 */
export function compareLsn(a: string, b: string): -1 | 0 | 1 {
  const x = parseLsn(a);
  const y = parseLsn(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The later of several LSNs (ignoring `null`/`undefined`), or `undefined` when none is given. Handy to merge the
 * position a user last wrote at with a new one.
 * @throws TypeError when a given value is not a valid LSN.
 */
export function maxLsn(...lsns: Array<string | null | undefined>): string | undefined {
  let best: string | undefined;
  let bestPos = -1n;
  for (const lsn of lsns) {
    if (lsn === null || lsn === undefined) continue;
    const pos = parseLsn(lsn);
    if (pos > bestPos) {
      best = lsn;
      bestPos = pos;
    }
  }
  return best;
}

/**
 * The primary's WAL position to pass as `minLsn` for read-your-writes, read with
 * `SELECT pg_current_wal_insert_lsn()`. Call it on the **primary**, **after** your transaction committed.
 *
 * Why the insert LSN and not `pg_current_wal_lsn()` (write position) or `pg_current_wal_flush_lsn()`: once a
 * commit returns, its commit record has always been *inserted*, so the insert position is at or past the end of
 * that record whatever `synchronous_commit` says. With `synchronous_commit = off` (a common per-transaction
 * optimisation) the commit returns before its record is written or flushed, so the write/flush positions can still
 * be before it, and a replica that replayed "up to" them could still miss the change: a stale read. A replica
 * that has replayed past the returned position has replayed our commit record, and on a hot standby a commit is
 * visible to new snapshots once its record is replayed. The insert position may include other sessions' WAL that
 * is not yet flushed; that only makes us wait a little longer for a replica, never read stale data.
 *
 * @param db a knex instance connected to the primary (not an open transaction: inside a transaction the position
 *   is taken before the commit record exists, which would allow stale reads).
 * @returns the textual LSN, e.g. `'0/3000148'`.
 * @throws TypeError when `db` is a transaction; the database error when the query fails (e.g. on a standby:
 *   "recovery is in progress").
 */
export async function currentLsn(db: Knex): Promise<string> {
  if (db.isTransaction === true) {
    throw new TypeError(
      'db-router: currentLsn() must run after commit, not inside a transaction (the commit record does not exist yet)',
    );
  }
  const result = await db.raw<{ rows: Array<{ lsn: string }> }>(
    'SELECT pg_current_wal_insert_lsn()::text AS lsn',
  );
  const lsn = result.rows[0]?.lsn;
  if (!isLsn(lsn)) throw new Error('db-router: pg_current_wal_insert_lsn() returned no LSN');
  return lsn;
}
