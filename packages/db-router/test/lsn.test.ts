import {
  compareLsn,
  createDbRouter,
  formatLsn,
  isConnectionError,
  isLsn,
  isRecoveryConflict,
  maxLsn,
  parseLsn,
  ReplicaRestartedError,
} from '../src';

describe('LSN helpers', () => {
  it('parses a textual LSN into its 64-bit byte position and formats it back', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('0/16B3748')).toBe(0x16b3748n);
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(parseLsn('ffffffff/FFFFFFFF')).toBe((1n << 64n) - 1n);
    expect(formatLsn(0x16b3748n)).toBe('0/16B3748');
    expect(formatLsn(parseLsn('a/bc'))).toBe('A/BC');
  });

  it('orders LSNs numerically, across the 32-bit boundary, not as strings', () => {
    expect(compareLsn('0/FFFFFFFF', '1/0')).toBe(-1);
    expect(compareLsn('0/A', '0/9')).toBe(1);
    expect(compareLsn('0/10', '0/9')).toBe(1);
    expect(compareLsn('2/0', '2/0')).toBe(0);
    expect(['1/0', '0/10', '0/9'].sort(compareLsn)).toEqual(['0/9', '0/10', '1/0']);
  });

  it('rejects malformed LSNs with a TypeError', () => {
    for (const bad of ['', '0', '0/', '/0', '0/G', '123456789/0', '0/0/0', ' 0/0']) {
      expect(isLsn(bad)).toBe(false);
      expect(() => parseLsn(bad)).toThrow(TypeError);
    }
    expect(() => formatLsn(-1n)).toThrow(RangeError);
    expect(() => formatLsn(1n << 64n)).toThrow(RangeError);
  });

  it('picks the latest of several LSNs, ignoring missing ones', () => {
    expect(maxLsn(undefined, '0/9', null, '0/10')).toBe('0/10');
    expect(maxLsn()).toBeUndefined();
    expect(maxLsn(null)).toBeUndefined();
  });
});

describe('error classification', () => {
  it('treats refused, reset, terminated, shutdown and pool-timeout errors as connection errors', () => {
    const withCode = (code: string) => Object.assign(new Error('x'), { code });
    expect(isConnectionError(withCode('ECONNREFUSED'))).toBe(true);
    expect(isConnectionError(withCode('57P01'))).toBe(true);
    expect(isConnectionError(withCode('08006'))).toBe(true);
    expect(isConnectionError(withCode('3D000'))).toBe(true);
    expect(isConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(
      isConnectionError(
        Object.assign(new Error('Knex: Timeout acquiring a connection'), { name: 'KnexTimeoutError' }),
      ),
    ).toBe(true);
    expect(isConnectionError(new AggregateError([withCode('ECONNREFUSED')]))).toBe(true);
    expect(isConnectionError(new Error('wrapped', { cause: withCode('ECONNRESET') }))).toBe(true);
    expect(isConnectionError(new ReplicaRestartedError('r', 'restarted'))).toBe(true);
  });

  it('does not treat query errors as connection errors', () => {
    const withCode = (code: string) => Object.assign(new Error('x'), { code });
    expect(isConnectionError(withCode('42601'))).toBe(false);
    expect(isConnectionError(withCode('23505'))).toBe(false);
    expect(isConnectionError(withCode('57014'))).toBe(false);
    expect(isConnectionError('boom')).toBe(false);
    expect(isConnectionError(undefined)).toBe(false);
    expect(isRecoveryConflict(withCode('40001'))).toBe(true);
    expect(isRecoveryConflict(withCode('23505'))).toBe(false);
  });
});

describe('createDbRouter options', () => {
  const writer = 'postgres://u@127.0.0.1:1/db';
  it.each([
    [{ writer: 'not a url' }, /writer is not a valid URL/],
    [{ writer: 'mysql://h/db' }, /writer must be a postgres/],
    [{ writer, readers: 'postgres://h/db' }, /readers must be an array/],
    [{ writer, readers: [42] }, /readers\[0\]/],
    [{ writer, pool: { min: 5, max: 2 } }, /pool.min must be <= pool.max/],
    [{ writer, pool: { max: 0 } }, /pool.max must be >= 1/],
    [{ writer, healthCheckIntervalMs: 0 }, /healthCheckIntervalMs must be >= 10/],
    [{ writer, maxLagBytes: -1 }, /maxLagBytes must be >= 0/],
    [{ writer, maxLagMs: Number.NaN }, /maxLagMs must be a number/],
    [{ writer, backoff: { initialMs: 10_000, maxMs: 100 } }, /backoff.initialMs must be <= backoff.maxMs/],
    [{ writer, lsnCheck: 'sometimes' }, /lsnCheck must be one of/],
    [{ writer, onDecision: 'yes' }, /onDecision must be a function/],
  ])('rejects invalid options before opening any connection: %j', (options, message) => {
    expect(() => createDbRouter(options as never)).toThrow(message);
    expect(() => createDbRouter(options as never)).toThrow(TypeError);
  });
});
