import {
  codePointLength,
  date,
  decodeCursor,
  encodeCursor,
  int,
  listQuery,
  period,
  permissionsOf,
  positiveInt,
  ROLE_PERMISSIONS,
  text,
  uuid,
} from '../src';

describe('api-contract primitives', () => {
  it('counts code points, not UTF-16 units', () => {
    expect(codePointLength('😀😀')).toBe(2);
    expect(text(2).safeParse('😀😀').success).toBe(true);
    expect(text(2).safeParse('abc').success).toBe(false);
  });

  it('rejects NUL, lone surrogates and empty strings', () => {
    expect(text().safeParse('a\u0000b').success).toBe(false);
    expect(text().safeParse('a\ud800b').success).toBe(false);
    expect(text().safeParse('a\udc00').success).toBe(false);
    expect(text().safeParse('').success).toBe(false);
    expect(text(10, { allowEmpty: true }).safeParse('').success).toBe(true);
  });

  it('accepts only JSON integers within 10^12', () => {
    expect(int().safeParse(5).success).toBe(true);
    expect(int().safeParse('5').success).toBe(false);
    expect(int().safeParse(1.5).success).toBe(false);
    expect(int().safeParse(1e12).success).toBe(true);
    expect(int().safeParse(1e12 + 1).success).toBe(false);
    expect(int().safeParse(-1e12 - 1).success).toBe(false);
    expect(positiveInt().safeParse(0).success).toBe(false);
  });

  it('validates dates, periods and uuids', () => {
    expect(date().safeParse('2026-02-28').success).toBe(true);
    expect(date().safeParse('2026-02-30').success).toBe(false);
    expect(date().safeParse('2026-2-1').success).toBe(false);
    expect(period().safeParse('2018-12').success).toBe(true);
    expect(period().safeParse('2018-13').success).toBe(false);
    expect(uuid().safeParse('8f14e45f-ceea-467a-9af0-0a7a2b3c4d5e').success).toBe(true);
    expect(uuid().safeParse('nope').success).toBe(false);
  });

  it('parses list queries with defaults and bounds', () => {
    expect(listQuery.parse({})).toEqual({ limit: 50 });
    expect(listQuery.parse({ limit: '200', cursor: 'x' })).toEqual({ limit: 200, cursor: 'x' });
    expect(listQuery.safeParse({ limit: '0' }).success).toBe(false);
    expect(listQuery.safeParse({ limit: '201' }).success).toBe(false);
    expect(listQuery.safeParse({ limit: 'abc' }).success).toBe(false);
  });

  it('round-trips opaque cursors and rejects garbage', () => {
    expect(decodeCursor(encodeCursor({ a: 1, b: 'x' }))).toEqual({ a: 1, b: 'x' });
    expect(decodeCursor('%%%')).toBeUndefined();
  });

  it('maps roles to the contract permissions', () => {
    expect(permissionsOf(['admin'])).toContain('users:manage');
    expect(permissionsOf(['accountant'])).toEqual([
      'accounting:close',
      'accounting:post',
      'accounting:read',
      'inventory:read',
    ]);
    expect(permissionsOf(['viewer', 'nope'])).toEqual(['accounting:read', 'inventory:read']);
    expect(ROLE_PERMISSIONS.sales_clerk).not.toContain('inventory:adjust');
  });
});
