import type { Knex } from 'knex';
import type { AccountType } from '@kv/api-contract';

/** An account row as the service uses it. */
export interface AccountRecord {
  id: string;
  code: string;
  name: string;
  type: AccountType;
  isSystem: boolean;
  createdAt: Date;
}

/** Totals of posted lines in minor units. */
export interface BalanceTotals {
  debit: number;
  credit: number;
}

interface AccountRow {
  id: string;
  code: string;
  name: string;
  type: AccountType;
  is_system: boolean;
  created_at: Date;
}

const COLUMNS = ['id', 'code', 'name', 'type', 'is_system', 'created_at'] as const;

function toRecord(r: AccountRow): AccountRecord {
  return {
    id: r.id,
    code: r.code,
    name: r.name,
    type: r.type,
    isSystem: r.is_system,
    createdAt: r.created_at,
  };
}

/** Inserts an account. A duplicate code raises PostgreSQL's unique violation (`accounts_tenant_code_key`). */
export async function insertAccount(
  trx: Knex.Transaction,
  tenantId: string,
  input: { code: string; name: string; type: AccountType },
): Promise<AccountRecord> {
  const rows: AccountRow[] = await trx('accounting.accounts')
    .insert({ tenant_id: tenantId, code: input.code, name: input.name, type: input.type })
    .returning([...COLUMNS]);
  return toRecord(rows[0]!);
}

/** Inserts the accounts that are missing by code (existing codes are left alone); returns those inserted. */
export async function insertAccountsIfMissing(
  trx: Knex.Transaction,
  tenantId: string,
  accounts: readonly { code: string; name: string; type: AccountType }[],
  isSystem: boolean,
): Promise<AccountRecord[]> {
  const rows: AccountRow[] = await trx('accounting.accounts')
    .insert(
      accounts.map((a) => ({
        tenant_id: tenantId,
        code: a.code,
        name: a.name,
        type: a.type,
        is_system: isSystem,
      })),
    )
    .onConflict(['tenant_id', 'code'])
    .ignore()
    .returning([...COLUMNS]);
  return rows.map(toRecord);
}

/** Ids of the given account codes that exist, by code. */
export async function accountIdsByCode(
  trx: Knex.Transaction,
  tenantId: string,
  codes: readonly string[],
): Promise<Map<string, string>> {
  const rows = (await trx('accounting.accounts')
    .select('id', 'code')
    .where({ tenant_id: tenantId })
    .whereIn('code', [...codes])) as { id: string; code: string }[];
  return new Map(rows.map((r) => [r.code, r.id]));
}

/** The account, or `undefined`. */
export async function findAccount(
  trx: Knex.Transaction,
  tenantId: string,
  id: string,
): Promise<AccountRecord | undefined> {
  const row = (await trx('accounting.accounts')
    .select(COLUMNS)
    .where({ tenant_id: tenantId, id })
    .first()) as AccountRow | undefined;
  return row ? toRecord(row) : undefined;
}

/**
 * How many of `ids` (distinct) exist in the tenant. One statement that also works outside a tenant transaction
 * (`accounting.count_accounts` sets the tenant for its own implicit transaction).
 */
export async function countExistingAccounts(
  db: Knex | Knex.Transaction,
  tenantId: string,
  ids: readonly string[],
): Promise<number> {
  const result = await db.raw<{ rows: { n: number }[] }>(
    `SELECT accounting.count_accounts(?::uuid, ?::uuid[]) AS n`,
    [tenantId, [...new Set(ids)]],
  );
  return result.rows[0]?.n ?? 0;
}

/** Accounts ordered by code, after `afterCode` (keyset), at most `limit`. */
export async function listAccounts(
  trx: Knex.Transaction,
  tenantId: string,
  query: { type?: AccountType; afterCode?: string; limit: number },
): Promise<AccountRecord[]> {
  const q = trx('accounting.accounts')
    .select(COLUMNS)
    .where({ tenant_id: tenantId })
    .orderBy('code', 'asc')
    .limit(query.limit);
  if (query.type) void q.where('type', query.type);
  if (query.afterCode !== undefined) void q.where('code', '>', query.afterCode);
  return ((await q) as AccountRow[]).map(toRecord);
}

/** Exact balance: the sum of the account's balance slots (each updated in the posting's transaction). */
export async function accountBalance(
  trx: Knex.Transaction,
  tenantId: string,
  accountId: string,
): Promise<BalanceTotals> {
  const result = await trx.raw<{ rows: { debit: string; credit: string }[] }>(
    `SELECT COALESCE(sum(debit), 0)::text AS debit, COALESCE(sum(credit), 0)::text AS credit
       FROM accounting.account_balances WHERE tenant_id = ? AND account_id = ?`,
    [tenantId, accountId],
  );
  const row = result.rows[0];
  return { debit: Number(row?.debit ?? 0), credit: Number(row?.credit ?? 0) };
}
