import { ConfigError, loadConfig } from '@kv/config';
import { configSchema } from '../src/config';
import { errorMessage, isPermanent, PermanentError, RetryableError } from '../src/domain/errors';
import { decodeFailedJobCursor, encodeFailedJobCursor } from '../src/domain/failed-jobs';
import { jobRequestId } from '../src/domain/processor';
import { backoffDelay } from '../src/queues/queues';
import type { FailedJobRow } from '../src/data/failed-jobs';

const baseEnv = {
  DATABASE_SYSTEM_URL: 'postgres://kv_system@127.0.0.1:5432/kv',
  DATABASE_OWNER_URL: 'postgres://kv_owner@127.0.0.1:5432/kv',
  REDIS_URL: 'redis://127.0.0.1:6379',
  INTERNAL_SECRET: 'x'.repeat(32),
  INVENTORY_URL: 'http://127.0.0.1:3001',
  ACCOUNTING_URL: 'http://127.0.0.1:3002',
};

describe('backoffDelay', () => {
  it('doubles per retry from the base, with ±25 % jitter, capped at the maximum', () => {
    expect(backoffDelay(1, 1000, 60_000, 0.5)).toBe(1000);
    expect(backoffDelay(2, 1000, 60_000, 0.5)).toBe(2000);
    expect(backoffDelay(3, 1000, 60_000, 0.5)).toBe(4000);
    expect(backoffDelay(1, 1000, 60_000, 0)).toBe(750);
    expect(backoffDelay(1, 1000, 60_000, 0.999_999)).toBe(1250);
    expect(backoffDelay(20, 1000, 60_000, 0.5)).toBe(60_000);
    expect(backoffDelay(200, 1000, 60_000, 0.5)).toBe(60_000);
  });

  it('always grows from one retry to the next, whatever the jitter', () => {
    for (let n = 1; n < 6; n++) {
      expect(backoffDelay(n + 1, 500, 1e9, 0)).toBeGreaterThan(backoffDelay(n, 500, 1e9, 0.999_999));
    }
  });
});

describe('config', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(configSchema, baseEnv);
    expect(c).toMatchObject({
      PORT: 3003,
      QUEUE_PREFIX: 'bull',
      QUEUE_HIGH_ATTEMPTS: 3,
      QUEUE_DEFAULT_ATTEMPTS: 3,
      QUEUE_LOW_ATTEMPTS: 5,
      QUEUE_LOCK_DURATION_MS: 30_000,
      RELAY_SCHEMAS: ['inventory', 'accounting'],
      RELAY_REDELIVER_AFTER_MS: 30_000,
      EXPIRY_INTERVAL_MS: 1000,
      MIGRATE_ON_START: true,
    });
  });

  it('names the bad variable, never its value', () => {
    const bad = () => loadConfig(configSchema, { ...baseEnv, INTERNAL_SECRET: 'short-secret-value' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/INTERNAL_SECRET/);
    expect(bad).not.toThrow(/short-secret-value/);
    expect(() => loadConfig(configSchema, { ...baseEnv, REDIS_URL: undefined })).toThrow(
      /REDIS_URL \(required\)/,
    );
  });

  it('refuses an HTTP timeout not below the job lock duration (a job could outlive its lock)', () => {
    expect(() =>
      loadConfig(configSchema, { ...baseEnv, HTTP_TIMEOUT_MS: '30000', QUEUE_LOCK_DURATION_MS: '30000' }),
    ).toThrow(/HTTP_TIMEOUT_MS/);
  });

  it('requires the owner URL when migrating at start', () => {
    expect(() => loadConfig(configSchema, { ...baseEnv, DATABASE_OWNER_URL: undefined })).toThrow(
      /DATABASE_OWNER_URL/,
    );
    expect(
      loadConfig(configSchema, { ...baseEnv, DATABASE_OWNER_URL: undefined, MIGRATE_ON_START: 'false' }),
    ).toBeTruthy();
  });
});

describe('failed job cursors', () => {
  it('round-trips the keyset position and rejects garbage', () => {
    const row = {
      failed_at: new Date('2026-01-02T03:04:05.678Z'),
      id: '3f0c5b8e-8d7a-4c5e-9a57-0f1b2c3d4e5f',
    } as FailedJobRow;
    expect(decodeFailedJobCursor(encodeFailedJobCursor(row))).toEqual({
      failedAt: row.failed_at,
      id: row.id,
    });
    expect(decodeFailedJobCursor('nope')).toBeUndefined();
    expect(decodeFailedJobCursor(Buffer.from('{"f":"x","i":"y"}').toString('base64url'))).toBeUndefined();
  });
});

describe('errors and request ids', () => {
  it('treats only PermanentError as permanent', () => {
    expect(isPermanent(new PermanentError('x'))).toBe(true);
    expect(isPermanent(new RetryableError('x'))).toBe(false);
    expect(isPermanent(new Error('x'))).toBe(false);
    expect(errorMessage(new Error('a'.repeat(5000))).length).toBeLessThanOrEqual(2000);
  });

  it('builds printable request ids of at most 200 characters', () => {
    expect(jobRequestId('high', 'abc', 2)).toBe('job:high:abc:2');
    expect(jobRequestId('low', 'a b\nc', 1)).toBe('job:low:a_b_c:1');
    expect(jobRequestId('low', 'x'.repeat(500), 1)).toHaveLength(200);
  });
});
