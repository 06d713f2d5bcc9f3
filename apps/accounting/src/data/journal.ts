import type { Knex } from 'knex';
import type { AuditInput } from '@kv/audit';

/** A line to post (minor units; exactly one side > 0). */
export interface LineInput {
  accountId: string;
  debit: number;
  credit: number;
}

/** What a new entry consists of. `id` is chosen by the caller (so audit rows can be written first). */
export interface EntryInput {
  id: string;
  tenantId: string;
  date: string;
  memo: string | null;
  source: { type: 'stock_movement'; id: string } | null;
  reversalOf: string | null;
  createdBy: string | null;
  lines: readonly LineInput[];
  /** Audit rows written by the same statement (same columns as `@kv/audit`'s `writeAudit`). */
  audit: readonly AuditInput[];
}

/** A posted entry with its lines. */
export interface EntryRecord {
  id: string;
  number: number;
  date: string;
  memo: string | null;
  source: { type: 'stock_movement'; id: string } | null;
  reversalOf: string | null;
  reversedBy: string | null;
  createdAt: Date;
  lines: { accountId: string; debit: number; credit: number }[];
}

/**
 * Posts the entry, all its lines and its audit rows in ONE statement (`accounting.post_entry`, one round trip),
 * only if every account exists in the tenant (else nothing is written and `undefined` is returned). Triggers
 * assign the number, check the period and update the balance slots; the deferred trigger checks the balance at
 * commit. `db` is a tenant transaction, or the pool itself: the statement's implicit transaction is then the
 * posting's (the function sets the tenant for it).
 */
export async function insertEntry(
  db: Knex | Knex.Transaction,
  e: EntryInput,
): Promise<{ number: number; createdAt: Date } | undefined> {
  const result = await db.raw<{ rows: { number: string; created_at: Date }[] }>(
    `SELECT number::text AS number, created_at
       FROM accounting.post_entry(?::uuid, ?::uuid, ?::uuid, ?::date, ?, ?, ?::uuid, ?::uuid, ?::uuid[], ?::bigint[], ?::bigint[], ?::jsonb)`,
    [
      e.tenantId,
      e.createdBy,
      e.id,
      e.date,
      e.memo,
      e.source?.type ?? null,
      e.source?.id ?? null,
      e.reversalOf,
      e.lines.map((l) => l.accountId),
      e.lines.map((l) => l.debit),
      e.lines.map((l) => l.credit),
      JSON.stringify(
        e.audit.map((x) => ({
          tenant_id: x.tenantId,
          actor_id: x.actorId,
          action: x.action,
          entity_type: x.entityType,
          entity_id: x.entityId,
          request_id: x.requestId,
          changes: x.changes,
        })),
      ),
    ],
  );
  const row = result.rows[0];
  return row ? { number: Number(row.number), createdAt: row.created_at } : undefined;
}

interface EntryRow {
  id: string;
  number: string;
  date: string;
  memo: string | null;
  source_type: 'stock_movement' | null;
  source_id: string | null;
  reversal_of: string | null;
  created_at: Date;
}

const ENTRY_COLUMNS = `e.id, e.number::text AS number, to_char(e.date, 'YYYY-MM-DD') AS date, e.memo,
  e.source_type, e.source_id, e.reversal_of, e.created_at`;

/** Loads lines and `reversed_by` for the given entry rows, keeping their order. */
async function hydrate(trx: Knex.Transaction, tenantId: string, rows: EntryRow[]): Promise<EntryRecord[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [lines, reversals] = (await Promise.all([
    trx.raw(
      `SELECT entry_id, account_id, debit::text AS debit, credit::text AS credit FROM accounting.journal_lines
        WHERE tenant_id = ? AND entry_id = ANY(?::uuid[]) ORDER BY entry_id, line_no`,
      [tenantId, ids],
    ),
    trx.raw(
      `SELECT reversal_of, id FROM accounting.journal_entries WHERE tenant_id = ? AND reversal_of = ANY(?::uuid[])`,
      [tenantId, ids],
    ),
  ])) as [
    { rows: { entry_id: string; account_id: string; debit: string; credit: string }[] },
    { rows: { reversal_of: string; id: string }[] },
  ];
  const byEntry = new Map<string, EntryRecord['lines']>();
  for (const l of lines.rows) {
    const list = byEntry.get(l.entry_id) ?? [];
    list.push({ accountId: l.account_id, debit: Number(l.debit), credit: Number(l.credit) });
    byEntry.set(l.entry_id, list);
  }
  const reversedBy = new Map(reversals.rows.map((r) => [r.reversal_of, r.id]));
  return rows.map((r) => ({
    id: r.id,
    number: Number(r.number),
    date: r.date,
    memo: r.memo,
    source: r.source_type && r.source_id ? { type: r.source_type, id: r.source_id } : null,
    reversalOf: r.reversal_of,
    reversedBy: reversedBy.get(r.id) ?? null,
    createdAt: r.created_at,
    lines: byEntry.get(r.id) ?? [],
  }));
}

/** The entry with its lines, or `undefined`. */
export async function findEntry(
  trx: Knex.Transaction,
  tenantId: string,
  id: string,
): Promise<EntryRecord | undefined> {
  const result = await trx.raw<{ rows: EntryRow[] }>(
    `SELECT ${ENTRY_COLUMNS} FROM accounting.journal_entries e WHERE e.tenant_id = ? AND e.id = ?`,
    [tenantId, id],
  );
  const [entry] = await hydrate(trx, tenantId, result.rows);
  return entry;
}

/** The entry posted for a source (e.g. a stock movement), or `undefined`. */
export async function findEntryIdBySource(
  trx: Knex.Transaction,
  tenantId: string,
  source: { type: string; id: string },
): Promise<string | undefined> {
  const row = (await trx('accounting.journal_entries')
    .select('id')
    .where({ tenant_id: tenantId, source_type: source.type, source_id: source.id })
    .first()) as { id: string } | undefined;
  return row?.id;
}

/** Filters and keyset position of an entry listing (newest date first, then highest number). */
export interface EntryListQuery {
  from?: string;
  to?: string;
  accountId?: string;
  after?: { date: string; number: number };
  limit: number;
}

/** Entries matching the filters, newest first. */
export async function listEntries(
  trx: Knex.Transaction,
  tenantId: string,
  q: EntryListQuery,
): Promise<EntryRecord[]> {
  const where: string[] = ['e.tenant_id = ?'];
  const args: (string | number)[] = [tenantId];
  if (q.from !== undefined) {
    where.push('e.date >= ?::date');
    args.push(q.from);
  }
  if (q.to !== undefined) {
    where.push('e.date <= ?::date');
    args.push(q.to);
  }
  if (q.accountId !== undefined) {
    where.push(`EXISTS (SELECT 1 FROM accounting.journal_lines l
                         WHERE l.tenant_id = e.tenant_id AND l.entry_id = e.id AND l.account_id = ?)`);
    args.push(q.accountId);
  }
  if (q.after) {
    where.push('(e.date, e.number) < (?::date, ?::bigint)');
    args.push(q.after.date, q.after.number);
  }
  args.push(q.limit);
  const result = await trx.raw<{ rows: EntryRow[] }>(
    `SELECT ${ENTRY_COLUMNS} FROM accounting.journal_entries e
      WHERE ${where.join(' AND ')}
      ORDER BY e.date DESC, e.number DESC LIMIT ?`,
    args,
  );
  return hydrate(trx, tenantId, result.rows);
}

/** One account's totals as of a date. */
export interface TrialBalanceRow {
  accountId: string;
  code: string;
  name: string;
  debit: number;
  credit: number;
}

/**
 * Per-account totals of lines dated on or before `asOf`, in ONE statement (one snapshot): the balance slots
 * (all posted lines) minus the lines dated after `asOf`, so a recent `asOf` reads few rows and stays exact.
 * Accounts without activity up to `asOf` are left out.
 */
export async function trialBalanceRows(
  trx: Knex.Transaction,
  tenantId: string,
  asOf: string,
): Promise<TrialBalanceRow[]> {
  const result = await trx.raw<{
    rows: { id: string; code: string; name: string; debit: string; credit: string }[];
  }>(
    `WITH totals AS (
       SELECT account_id, sum(debit) AS debit, sum(credit) AS credit
         FROM accounting.account_balances WHERE tenant_id = ? GROUP BY account_id
     ), later AS (
       SELECT l.account_id, sum(l.debit) AS debit, sum(l.credit) AS credit
         FROM accounting.journal_entries e
         JOIN accounting.journal_lines l ON l.tenant_id = e.tenant_id AND l.entry_id = e.id
        WHERE e.tenant_id = ? AND e.date > ?::date
        GROUP BY l.account_id
     )
     SELECT a.id, a.code, a.name,
            (t.debit - COALESCE(x.debit, 0))::text AS debit,
            (t.credit - COALESCE(x.credit, 0))::text AS credit
       FROM totals t
       JOIN accounting.accounts a ON a.tenant_id = ? AND a.id = t.account_id
       LEFT JOIN later x ON x.account_id = t.account_id
      WHERE t.debit - COALESCE(x.debit, 0) > 0 OR t.credit - COALESCE(x.credit, 0) > 0
      ORDER BY a.code`,
    [tenantId, tenantId, asOf, tenantId],
  );
  return result.rows.map((r) => ({
    accountId: r.id,
    code: r.code,
    name: r.name,
    debit: Number(r.debit),
    credit: Number(r.credit),
  }));
}
