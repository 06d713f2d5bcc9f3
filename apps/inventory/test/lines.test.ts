import { compareIds, mergeLines, movementValue } from '../src/domain/lines';
import { toAppError } from '../src/routes/db-errors';
import { configSchema } from '../src/config';
import { loadConfig } from '@kv/config';

const A = 'aaaaaaaa-0000-4000-8000-000000000000';
const B = 'bbbbbbbb-0000-4000-8000-000000000000';

describe('mergeLines', () => {
  it('sums lines naming the same product (case-insensitively) and sorts them by product id', () => {
    expect(
      mergeLines([
        { product_id: B, quantity: 1 },
        { product_id: A.toUpperCase(), quantity: 2 },
        { product_id: A, quantity: 3 },
      ]),
    ).toEqual([
      { product_id: A, quantity: 5 },
      { product_id: B, quantity: 1 },
    ]);
  });

  it('orders ids by byte value, like PostgreSQL orders uuids', () => {
    expect(['f0', '0f', 'a0', '9f'].sort(compareIds)).toEqual(['0f', '9f', 'a0', 'f0']);
  });
});

describe('movementValue', () => {
  it('is |quantity| × unit cost, exact in integers', () => {
    expect(movementValue(-5, 7)).toBe(35);
    expect(movementValue(3, 0)).toBe(0);
    expect(movementValue(1_000_000, 1_000_000)).toBe(1_000_000_000_000);
  });
});

describe('toAppError', () => {
  it('turns transient database failures into 503 and a stock CHECK violation into insufficient-stock', () => {
    expect(toAppError({ code: '40P01', message: 'deadlock detected' })?.status).toBe(503);
    expect(toAppError({ code: '08006', message: 'connection failure' })?.status).toBe(503);
    expect(
      toAppError(
        Object.assign(new Error('Knex: Timeout acquiring a connection'), { name: 'KnexTimeoutError' }),
      )?.status,
    ).toBe(503);
    expect(toAppError({ code: '23514', constraint: 'stock_reserved_within_on_hand' })?.code).toBe(
      'INSUFFICIENT_STOCK',
    );
    expect(toAppError({ code: '23505', constraint: 'products_sku_unique' })?.code).toBe('CONFLICT');
    expect(toAppError(new Error('boom'))).toBeUndefined();
  });

  it('answers 503 when a terminated backend makes the rollback fail (connection not queryable)', () => {
    const err = new Error('Client has encountered a connection error and is not queryable');
    expect(toAppError(err)?.code).toBe('UNAVAILABLE');
    expect(toAppError({ code: 'ECONNRESET', message: 'read ECONNRESET' })?.status).toBe(503);
  });
});

describe('configSchema', () => {
  const base = {
    DATABASE_URL: 'postgres://kv_app@localhost/kv',
    DATABASE_SYSTEM_URL: 'postgres://kv_system@localhost/kv',
    DATABASE_OWNER_URL: 'postgres://kv_owner@localhost/kv',
    INTERNAL_SECRET: 'x'.repeat(32),
  };

  it('applies defaults', () => {
    expect(loadConfig(configSchema, base)).toMatchObject({
      PORT: 3001,
      MIGRATE_ON_START: true,
      DB_POOL_MAX: 20,
      DATABASE_REPLICA_URLS: [],
    });
  });

  it('names the bad variable, never its value', () => {
    expect(() => loadConfig(configSchema, { ...base, INTERNAL_SECRET: 'short-secret' })).toThrow(
      /INTERNAL_SECRET/,
    );
    expect(() => loadConfig(configSchema, { ...base, INTERNAL_SECRET: 'short-secret' })).not.toThrow(
      /short-secret/,
    );
    expect(() => loadConfig(configSchema, { ...base, DATABASE_OWNER_URL: undefined })).toThrow(
      /DATABASE_OWNER_URL/,
    );
    expect(
      loadConfig(configSchema, { ...base, DATABASE_OWNER_URL: undefined, MIGRATE_ON_START: 'false' })
        .MIGRATE_ON_START,
    ).toBe(false);
  });
});
