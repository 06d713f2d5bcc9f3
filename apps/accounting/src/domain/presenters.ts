import type { Account, AccountWithBalance, JournalEntry } from '@kv/api-contract';
import type { AccountRecord, BalanceTotals } from '../data/accounts';
import type { EntryRecord } from '../data/journal';

/** API shape of an account. */
export function toAccount(a: AccountRecord): Account {
  return {
    id: a.id,
    code: a.code,
    name: a.name,
    type: a.type,
    system: a.isSystem,
    created_at: a.createdAt.toISOString(),
  };
}

/** API shape of an account with its balance (`net = debit − credit`). */
export function toAccountWithBalance(a: AccountRecord, b: BalanceTotals): AccountWithBalance {
  return { ...toAccount(a), balance: { debit: b.debit, credit: b.credit, net: b.debit - b.credit } };
}

/** API shape of a journal entry. */
export function toJournalEntry(e: EntryRecord): JournalEntry {
  return {
    id: e.id,
    number: e.number,
    date: e.date,
    memo: e.memo,
    status: 'posted',
    lines: e.lines.map((l) => ({ account_id: l.accountId, debit: l.debit, credit: l.credit })),
    source: e.source,
    reversal_of: e.reversalOf,
    reversed_by: e.reversedBy,
    created_at: e.createdAt.toISOString(),
  };
}
