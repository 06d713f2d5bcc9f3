import { decodeCursor, type AuditEventOut } from '@kv/api-contract';
import { decodeComposite, encodeComposite, mergeAuditPages } from '../src/domain/audit-merge';

const ev = (id: string, at: string): AuditEventOut => ({
  id,
  actor_id: null,
  action: 'x',
  entity_type: 'user',
  entity_id: id,
  request_id: null,
  at,
  changes: {},
});

describe('mergeAuditPages', () => {
  const start = decodeComposite(undefined);

  it('merges newest first and advances only the sources whose events were taken', () => {
    const result = mergeAuditPages(
      start,
      {
        gateway: {
          data: [ev('g2', '2026-01-01T00:00:05.000Z'), ev('g1', '2026-01-01T00:00:01.000Z')],
          next_cursor: null,
        },
        inventory: {
          data: [ev('i2', '2026-01-01T00:00:04.000Z'), ev('i1', '2026-01-01T00:00:03.000Z')],
          next_cursor: 'inv-next',
        },
        accounting: { data: [], next_cursor: null },
      },
      3,
    );
    expect(result.data.map((e) => e.id)).toEqual(['g2', 'i2', 'i1']);
    const next = decodeComposite(result.next_cursor!);
    expect(next.accounting).toBe(false);
    expect(next.inventory).toBe('inv-next');
    expect(decodeCursor(next.gateway as string)).toEqual({ at: '2026-01-01T00:00:05.000Z', id: 'g2' });
  });

  it('breaks ties on the timestamp by id, descending', () => {
    const at = '2026-01-01T00:00:00.000Z';
    const result = mergeAuditPages(
      start,
      {
        gateway: { data: [ev('b', at)], next_cursor: null },
        inventory: { data: [ev('c', at), ev('a', at)], next_cursor: null },
      },
      10,
    );
    expect(result.data.map((e) => e.id)).toEqual(['c', 'b', 'a']);
  });

  it('ends with a null cursor once every source is exhausted', () => {
    const result = mergeAuditPages(
      { gateway: false, inventory: null, accounting: false },
      { inventory: { data: [ev('i', '2026-01-01T00:00:00.000Z')], next_cursor: null } },
      5,
    );
    expect(result.next_cursor).toBeNull();
  });

  it('keeps an untouched source where it was', () => {
    const result = mergeAuditPages(
      { gateway: 'g-cursor', inventory: null, accounting: false },
      {
        gateway: { data: [ev('g', '2026-01-01T00:00:00.000Z')], next_cursor: null },
        inventory: { data: [ev('i', '2026-01-02T00:00:00.000Z')], next_cursor: 'more' },
      },
      1,
    );
    expect(result.data.map((e) => e.id)).toEqual(['i']);
    expect(decodeComposite(result.next_cursor!).gateway).toBe('g-cursor');
  });

  it('round-trips composite cursors and refuses foreign ones', () => {
    const c = { gateway: 'a', inventory: false, accounting: null } as const;
    expect(decodeComposite(encodeComposite(c))).toEqual(c);
    expect(() => decodeComposite('garbage')).toThrow();
    expect(() => decodeComposite(Buffer.from('{"v":2}').toString('base64url'))).toThrow();
  });
});
