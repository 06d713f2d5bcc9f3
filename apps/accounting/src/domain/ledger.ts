import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import {
  decodeCursor,
  encodeCursor,
  type JournalEntry,
  type PostJournalEntryBody,
  type TrialBalance,
} from '@kv/api-contract';
import type { AuditInput } from '@kv/audit';
import { AppError, errors } from '@kv/errors';
import type { TenantContext } from '@kv/tenant-context';
import { countExistingAccounts } from '../data/accounts';
import {
  findEntry,
  insertEntry,
  listEntries,
  trialBalanceRows,
  type EntryRecord,
  type LineInput,
} from '../data/journal';
import { todayUtc } from './dates';
import { toJournalEntry } from './presenters';

/** Sum of debits and of credits, in minor units. */
export function totalsOf(lines: readonly LineInput[]): { debit: number; credit: number } {
  let debit = 0;
  let credit = 0;
  for (const l of lines) {
    debit += l.debit;
    credit += l.credit;
  }
  return { debit, credit };
}

/** True when the identity's `approval_limit` (users only) is below the entry's total debit. */
export function exceedsApprovalLimit(ctx: TenantContext, totalDebit: number): boolean {
  const limit = ctx.attributes.approval_limit;
  return ctx.kind === 'user' && typeof limit === 'number' && totalDebit > limit;
}

/** What a new entry needs; the ledger assigns id, number and timestamps. */
export interface NewEntry {
  date: string;
  memo: string | null;
  lines: LineInput[];
  source: EntryRecord['source'];
  reversalOf: string | null;
}

/**
 * Posts an entry and its audit rows in `trx`, in one statement. Accounts are checked in the same statement,
 * the period and balance by the database.
 * @throws AppError NOT_FOUND (unknown account), PERIOD_CLOSED, UNBALANCED_ENTRY (from the database).
 */
export async function postEntry(
  db: Knex | Knex.Transaction,
  ctx: Pick<TenantContext, 'tenantId' | 'userId' | 'requestId'>,
  entry: NewEntry,
  extraAudit: Omit<AuditInput, 'tenantId' | 'actorId' | 'requestId'>[] = [],
  id: string = randomUUID(),
): Promise<JournalEntry> {
  const totals = totalsOf(entry.lines);
  const audit = (a: Omit<AuditInput, 'tenantId' | 'actorId' | 'requestId'>): AuditInput => ({
    ...a,
    tenantId: ctx.tenantId,
    actorId: ctx.userId,
    requestId: ctx.requestId || null,
  });
  const inserted = await insertEntry(db, {
    id,
    tenantId: ctx.tenantId,
    date: entry.date,
    memo: entry.memo,
    source: entry.source,
    reversalOf: entry.reversalOf,
    createdBy: ctx.userId,
    lines: entry.lines,
    audit: [
      audit({
        action: entry.reversalOf ? 'journal_entry.post_reversal' : 'journal_entry.post',
        entityType: 'journal_entry',
        entityId: id,
        changes: {
          date: entry.date,
          memo: entry.memo,
          total: totals.debit,
          source: entry.source,
          reversal_of: entry.reversalOf,
          lines: entry.lines.map((l) => ({ account_id: l.accountId, debit: l.debit, credit: l.credit })),
        },
      }),
      ...extraAudit.map(audit),
    ],
  });
  if (!inserted) throw errors.notFound('account');
  return toJournalEntry({
    id,
    number: inserted.number,
    date: entry.date,
    memo: entry.memo,
    source: entry.source,
    reversalOf: entry.reversalOf,
    reversedBy: null,
    createdAt: inserted.createdAt,
    lines: entry.lines.map((l) => ({ ...l })),
  });
}

/**
 * Posts a manual entry, in a tenant transaction or (without an idempotency key) as single statements on the pool.
 * Checks in the contract's order: unknown account (404), approval limit (403), then unbalanced (422) and closed
 * period (409).
 */
export async function postManualEntry(
  db: Knex | Knex.Transaction,
  ctx: TenantContext,
  body: PostJournalEntryBody,
): Promise<JournalEntry> {
  const lines: LineInput[] = body.lines.map((l) => ({
    accountId: l.account_id,
    debit: l.debit,
    credit: l.credit,
  }));
  const totals = totalsOf(lines);
  const overLimit = exceedsApprovalLimit(ctx, totals.debit);
  const unbalanced = totals.debit !== totals.credit;
  if (overLimit || unbalanced) {
    // Only then is the account check needed before the insert (which checks accounts itself), for precedence.
    const distinct = new Set(lines.map((l) => l.accountId));
    if ((await countExistingAccounts(db, ctx.tenantId, [...distinct])) !== distinct.size)
      throw errors.notFound('account');
    if (overLimit)
      throw new AppError('APPROVAL_LIMIT_EXCEEDED', 'The entry total is above your approval limit.');
    throw new AppError('UNBALANCED_ENTRY', `Debits (${totals.debit}) and credits (${totals.credit}) differ.`);
  }
  return postEntry(db, ctx, {
    date: body.date,
    memo: body.memo ?? null,
    lines,
    source: null,
    reversalOf: null,
  });
}

/**
 * Posts the mirror entry of `id` (debits and credits swapped), dated `date` (default today, UTC).
 * @throws AppError NOT_FOUND, APPROVAL_LIMIT_EXCEEDED, CONFLICT (already reversed, or a reversal), PERIOD_CLOSED.
 */
export async function reverseEntry(
  trx: Knex.Transaction,
  ctx: TenantContext,
  id: string,
  date: string | undefined,
): Promise<JournalEntry> {
  const original = await findEntry(trx, ctx.tenantId, id);
  if (!original) throw errors.notFound('journal entry');
  const lines: LineInput[] = original.lines.map((l) => ({
    accountId: l.accountId,
    debit: l.credit,
    credit: l.debit,
  }));
  if (exceedsApprovalLimit(ctx, totalsOf(lines).debit)) {
    throw new AppError('APPROVAL_LIMIT_EXCEEDED', 'The entry total is above your approval limit.');
  }
  if (original.reversalOf) throw errors.conflict('A reversal cannot itself be reversed.');
  if (original.reversedBy) throw errors.conflict('This journal entry has already been reversed.');
  return postEntry(
    trx,
    ctx,
    {
      date: date ?? todayUtc(),
      memo: `Reversal of entry #${original.number}`,
      lines,
      source: null,
      reversalOf: original.id,
    },
    [{ action: 'journal_entry.reverse', entityType: 'journal_entry', entityId: original.id, changes: {} }],
  );
}

/**
 * The entry with its lines.
 * @throws AppError NOT_FOUND
 */
export async function getEntry(trx: Knex.Transaction, tenantId: string, id: string): Promise<JournalEntry> {
  const entry = await findEntry(trx, tenantId, id);
  if (!entry) throw errors.notFound('journal entry');
  return toJournalEntry(entry);
}

/**
 * A page of entries (newest date first, then highest number), filtered by date range and account.
 * @throws AppError VALIDATION_ERROR for a foreign cursor; NOT_FOUND for an unknown `account_id`.
 */
export async function listEntriesPage(
  trx: Knex.Transaction,
  tenantId: string,
  query: { from?: string; to?: string; account_id?: string; limit: number; cursor?: string },
): Promise<{ data: JournalEntry[]; next_cursor: string | null }> {
  let after: { date: string; number: number } | undefined;
  if (query.cursor !== undefined) {
    const c = decodeCursor(query.cursor);
    if (
      !c ||
      typeof c.d !== 'string' ||
      !/^\d{4}-\d{2}-\d{2}$/.test(c.d) ||
      typeof c.n !== 'number' ||
      !Number.isSafeInteger(c.n)
    ) {
      throw errors.validation([{ path: 'cursor', message: 'invalid cursor' }]);
    }
    after = { date: c.d, number: c.n };
  }
  if (
    query.account_id !== undefined &&
    (await countExistingAccounts(trx, tenantId, [query.account_id])) === 0
  ) {
    throw errors.notFound('account');
  }
  const rows = await listEntries(trx, tenantId, {
    from: query.from,
    to: query.to,
    accountId: query.account_id,
    after,
    limit: query.limit + 1,
  });
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    data: page.map(toJournalEntry),
    next_cursor: rows.length > query.limit && last ? encodeCursor({ d: last.date, n: last.number }) : null,
  };
}

/** Trial balance as of `asOf` (default today, UTC): each account's net on one side; totals equal. */
export async function trialBalance(
  trx: Knex.Transaction,
  tenantId: string,
  asOf: string | undefined,
): Promise<TrialBalance> {
  const date = asOf ?? todayUtc();
  const rows = await trialBalanceRows(trx, tenantId, date);
  let totalDebit = 0;
  let totalCredit = 0;
  const lines = rows.map((r) => {
    const net = r.debit - r.credit;
    const line = {
      account_id: r.accountId,
      code: r.code,
      name: r.name,
      debit: net > 0 ? net : 0,
      credit: net < 0 ? -net : 0,
    };
    totalDebit += line.debit;
    totalCredit += line.credit;
    return line;
  });
  return { as_of: date, lines, total_debit: totalDebit, total_credit: totalCredit };
}
