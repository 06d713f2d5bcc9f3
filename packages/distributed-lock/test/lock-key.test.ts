import Redis from 'ioredis';
import type { Knex } from 'knex';
import { createLockManager, lockKey, parseLockKey, type LockManagerOptions } from '../src';

const TENANT = '3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b';

describe('lockKey', () => {
  it('builds a tenant-scoped key with the tenant as a Redis hash tag', () => {
    expect(lockKey(TENANT, 'period-close', '2026-01')).toBe(`lock:{${TENANT}}:period-close:2026-01`);
  });

  it('gives two tenants different keys for the same-named lock', () => {
    expect(lockKey('tenant-a', 'period-close')).not.toBe(lockKey('tenant-b', 'period-close'));
  });

  it.each([
    ['an empty tenant', () => lockKey('', 'x')],
    ['no parts', () => lockKey(TENANT)],
    ['an empty part', () => lockKey(TENANT, 'a', '')],
    ['a brace in the tenant', () => lockKey('a}b', 'x')],
    ['a colon in a part', () => lockKey(TENANT, 'a:b')],
    ['a brace in a part', () => lockKey(TENANT, '{x}')],
  ])('rejects %s', (_label, build) => {
    expect(build).toThrow(TypeError);
  });

  it('parses its own keys back and refuses keys that are not tenant-scoped', () => {
    expect(parseLockKey(lockKey(TENANT, 'period-close', '2026-01'))).toEqual({
      tenantId: TENANT,
      name: 'period-close',
      parts: ['period-close', '2026-01'],
    });
    expect(() => parseLockKey('period-close')).toThrow(TypeError);
    expect(() => parseLockKey('lock:{}:x')).toThrow(TypeError);
    expect(() => parseLockKey(`lock:{${TENANT}}`)).toThrow(TypeError);
  });
});

describe('createLockManager options', () => {
  const redis = new Redis({ lazyConnect: true });
  const knex = (() => undefined) as unknown as Knex;
  const valid: LockManagerOptions = { redis, knex, schema: 'locks' };
  afterAll(() => redis.disconnect());

  it('accepts valid options without touching Redis or PostgreSQL', () => {
    expect(() => createLockManager(valid)).not.toThrow();
    expect(() =>
      createLockManager({ ...valid, redis: [redis, redis], prefix: 'kv:', defaultTtlMs: 5000 }),
    ).not.toThrow();
    expect(redis.status).toBe('wait');
  });

  it.each<[string, Record<string, unknown>]>([
    ['no redis client', { redis: [] }],
    ['a non-client as redis', { redis: {} }],
    ['a missing knex', { knex: undefined }],
    ['a schema that is not an identifier', { schema: 'locks; drop table x' }],
    ['a prefix with a brace', { prefix: 'kv{x}:' }],
    ['a TTL below 50 ms', { defaultTtlMs: 10 }],
    ['a fractional TTL', { defaultTtlMs: 100.5 }],
    ['a negative wait', { defaultWaitMs: -1 }],
    ['a zero retry delay', { retry: { delayMs: 0 } }],
    ['a hook that is not a function', { metrics: { acquired: 1 } }],
  ])('rejects %s at construction', (_label, override) => {
    expect(() => createLockManager({ ...valid, ...(override as Partial<LockManagerOptions>) })).toThrow(
      TypeError,
    );
  });
});
