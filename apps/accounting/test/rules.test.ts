import { randomUUID } from 'node:crypto';
import { isAppError } from '@kv/errors';
import { LEDGER_SQLSTATE, isRetryableDbError, toAppError } from '../src/data/db-errors';
import { firstDayOf, firstOpenPeriod, nextPeriod, periodOf, todayUtc, utcDateOf } from '../src/domain/dates';
import { exceedsApprovalLimit, totalsOf } from '../src/domain/ledger';
import { postingForMovement } from '../src/domain/stock-movements';
import type { TenantContext } from '@kv/tenant-context';

const payload = (
  type: 'receipt' | 'shipment' | 'adjustment' | 'transfer_in' | 'transfer_out',
  quantity: number,
  value: number,
) => ({
  movement_id: randomUUID(),
  tenant_id: randomUUID(),
  type,
  product_id: randomUUID(),
  warehouse_id: randomUUID(),
  quantity,
  unit_cost: Math.abs(quantity) > 0 ? value / Math.abs(quantity) : 0,
  value,
  occurred_at: '2026-01-01T00:00:00Z',
});

describe('stock movement postings', () => {
  it('follows the contract: receipt, shipment, adjustment gain and loss; transfers and zero value post nothing', () => {
    expect(postingForMovement(payload('receipt', 10, 500))).toEqual({
      debit: '1300',
      credit: '2100',
      amount: 500,
    });
    expect(postingForMovement(payload('shipment', -2, 80))).toEqual({
      debit: '5000',
      credit: '1300',
      amount: 80,
    });
    expect(postingForMovement(payload('adjustment', 3, 30))).toEqual({
      debit: '1300',
      credit: '6100',
      amount: 30,
    });
    expect(postingForMovement(payload('adjustment', -3, 30))).toEqual({
      debit: '6100',
      credit: '1300',
      amount: 30,
    });
    expect(postingForMovement(payload('transfer_in', 3, 30))).toBeNull();
    expect(postingForMovement(payload('transfer_out', -3, 30))).toBeNull();
    expect(postingForMovement(payload('receipt', 3, 0))).toBeNull();
  });
});

describe('dates and periods', () => {
  it('takes UTC dates and walks periods', () => {
    expect(utcDateOf('2026-03-31T23:30:00-02:00')).toBe('2026-04-01');
    expect(todayUtc(new Date('2026-05-05T23:59:59Z'))).toBe('2026-05-05');
    expect(periodOf('2026-05-05')).toBe('2026-05');
    expect(nextPeriod('2026-12')).toBe('2027-01');
    expect(nextPeriod('2026-09')).toBe('2026-10');
    expect(firstDayOf('2026-10')).toBe('2026-10-01');
    expect(firstOpenPeriod('2026-09', ['2026-10', '2026-09', '2026-12'])).toBe('2026-11');
    expect(firstOpenPeriod('2026-08', ['2026-09'])).toBe('2026-08');
  });
});

describe('approval limit', () => {
  const ctx = (kind: 'user' | 'service', approval_limit?: number): TenantContext => ({
    tenantId: randomUUID(),
    userId: null,
    roles: [],
    permissions: [],
    attributes: approval_limit === undefined ? {} : { approval_limit },
    requestId: 'r',
    kind,
  });
  it('limits users with the attribute on the total debit only', () => {
    const lines = [
      { accountId: 'a', debit: 60, credit: 0 },
      { accountId: 'a', debit: 50, credit: 0 },
      { accountId: 'b', debit: 0, credit: 110 },
    ];
    expect(totalsOf(lines)).toEqual({ debit: 110, credit: 110 });
    expect(exceedsApprovalLimit(ctx('user', 110), 110)).toBe(false);
    expect(exceedsApprovalLimit(ctx('user', 109), 110)).toBe(true);
    expect(exceedsApprovalLimit(ctx('user'), 10 ** 12)).toBe(false);
    expect(exceedsApprovalLimit(ctx('service', 1), 110)).toBe(false);
  });
});

describe('database errors', () => {
  it('maps trigger SQLSTATEs and constraint names onto contract errors', () => {
    const code = (e: unknown) => {
      const mapped = toAppError(e);
      return mapped && isAppError(mapped) ? [mapped.code, mapped.status] : undefined;
    };
    expect(code({ code: LEDGER_SQLSTATE.PERIOD_CLOSED })).toEqual(['PERIOD_CLOSED', 409]);
    expect(code({ code: LEDGER_SQLSTATE.UNBALANCED })).toEqual(['UNBALANCED_ENTRY', 422]);
    expect(code({ code: LEDGER_SQLSTATE.UNKNOWN_ACCOUNT })).toEqual(['NOT_FOUND', 404]);
    expect(code({ code: LEDGER_SQLSTATE.REVERSAL_OF_REVERSAL })).toEqual(['CONFLICT', 409]);
    expect(code({ code: '23505', constraint: 'journal_entries_one_reversal' })).toEqual(['CONFLICT', 409]);
    expect(code({ code: '23505', constraint: 'accounts_tenant_code_key' })).toEqual(['CONFLICT', 409]);
    expect(code({ code: '57P01' })).toEqual(['UNAVAILABLE', 503]);
    expect(code({ code: 'ECONNREFUSED' })).toEqual(['UNAVAILABLE', 503]);
    expect(code({ name: 'KnexTimeoutError' })).toEqual(['UNAVAILABLE', 503]);
    expect(code({ code: '42P01' })).toBeUndefined();
    expect(isRetryableDbError({ code: '40P01' })).toBe(true);
    expect(isRetryableDbError({ code: '23505', constraint: 'journal_entries_one_per_source' })).toBe(true);
    expect(isRetryableDbError({ code: '23505', constraint: 'accounts_tenant_code_key' })).toBe(false);
  });
});
