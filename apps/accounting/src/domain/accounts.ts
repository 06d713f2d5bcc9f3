import type { Knex } from 'knex';
import {
  decodeCursor,
  encodeCursor,
  type Account,
  type AccountType,
  type AccountWithBalance,
} from '@kv/api-contract';
import { writeAudit } from '@kv/audit';
import { errors } from '@kv/errors';
import type { TenantContext } from '@kv/tenant-context';
import { accountBalance, findAccount, insertAccount, listAccounts } from '../data/accounts';
import { toAccount, toAccountWithBalance } from './presenters';

/** Creates an account (audited). A duplicate code is a 409 (unique per tenant, raised by PostgreSQL). */
export async function createAccount(
  trx: Knex.Transaction,
  ctx: TenantContext,
  input: { code: string; name: string; type: AccountType },
): Promise<Account> {
  const account = await insertAccount(trx, ctx.tenantId, input);
  await writeAudit(trx, 'accounting', [
    {
      tenantId: ctx.tenantId,
      actorId: ctx.userId,
      action: 'account.create',
      entityType: 'account',
      entityId: account.id,
      requestId: ctx.requestId || null,
      changes: { code: account.code, name: account.name, type: account.type },
    },
  ]);
  return toAccount(account);
}

/**
 * The account with its exact balance.
 * @throws AppError NOT_FOUND when it does not exist in the tenant.
 */
export async function getAccount(
  trx: Knex.Transaction,
  tenantId: string,
  id: string,
): Promise<AccountWithBalance> {
  const account = await findAccount(trx, tenantId, id);
  if (!account) throw errors.notFound('account');
  return toAccountWithBalance(account, await accountBalance(trx, tenantId, id));
}

/**
 * A page of accounts ordered by code.
 * @throws AppError VALIDATION_ERROR for a cursor this service did not issue.
 */
export async function listAccountsPage(
  trx: Knex.Transaction,
  tenantId: string,
  query: { type?: AccountType; limit: number; cursor?: string },
): Promise<{ data: Account[]; next_cursor: string | null }> {
  let afterCode: string | undefined;
  if (query.cursor !== undefined) {
    const c = decodeCursor(query.cursor);
    if (!c || typeof c.c !== 'string')
      throw errors.validation([{ path: 'cursor', message: 'invalid cursor' }]);
    afterCode = c.c;
  }
  const rows = await listAccounts(trx, tenantId, { type: query.type, afterCode, limit: query.limit + 1 });
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    data: page.map(toAccount),
    next_cursor: rows.length > query.limit && last ? encodeCursor({ c: last.code }) : null,
  };
}
