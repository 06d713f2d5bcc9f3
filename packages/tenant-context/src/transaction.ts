import type { Knex } from 'knex';
import { requireContext, type TenantContext } from './context';

/** PostgreSQL setting the row-level security policies read. */
export const TENANT_SETTING = 'app.tenant_id';
export const USER_SETTING = 'app.user_id';

export interface TenantTransactionOptions {
  /** Isolation level; default read committed. */
  isolationLevel?: Knex.IsolationLevels;
  /** Read-only transaction. */
  readOnly?: boolean;
}

/**
 * Runs `fn` in a transaction scoped to one tenant: `SET LOCAL app.tenant_id` (and `app.user_id`), so
 * row-level security shows and accepts only that tenant's rows. `SET LOCAL` (never `SET`) keeps the
 * setting from leaking to the next user of a pooled connection, and is safe behind PgBouncer in
 * transaction mode.
 * @throws MissingTenantContextError when `ctx` is omitted and no context is current.
 */
export async function withTenantTransaction<T>(
  knex: Knex,
  fn: (trx: Knex.Transaction) => Promise<T>,
  ctx: Pick<TenantContext, 'tenantId' | 'userId'> = requireContext(),
  options: TenantTransactionOptions = {},
): Promise<T> {
  const config: Knex.TransactionConfig = {};
  if (options.isolationLevel) config.isolationLevel = options.isolationLevel;
  if (options.readOnly) config.readOnly = true;
  return knex.transaction(async (trx) => {
    await trx.raw('SELECT set_config(?, ?, true), set_config(?, ?, true)', [
      TENANT_SETTING,
      ctx.tenantId,
      USER_SETTING,
      ctx.userId ?? '',
    ]);
    return fn(trx);
  }, config);
}

/** SQL expression for the current tenant id; NULL (matching no row) when unset. */
export const CURRENT_TENANT_SQL = `NULLIF(current_setting('${TENANT_SETTING}', true), '')::uuid`;

export interface RlsOptions {
  /** Tenant column; default `tenant_id`. */
  column?: string;
  /** Policy name; default `tenant_isolation`. */
  policy?: string;
}

/**
 * Migration helper: enables and FORCEs row-level security on `table` (`schema.table`) with a policy
 * that shows and accepts only rows of the current tenant. With no tenant set, no row is visible and no
 * insert passes (fail closed). FORCE makes it apply to the table owner too.
 */
export async function enableTenantRls(
  knex: Knex | Knex.Transaction,
  table: string,
  options: RlsOptions = {},
): Promise<void> {
  const column = options.column ?? 'tenant_id';
  const policy = options.policy ?? 'tenant_isolation';
  await knex.raw(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
  await knex.raw(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
  await knex.raw(`DROP POLICY IF EXISTS ${policy} ON ${table}`);
  await knex.raw(
    `CREATE POLICY ${policy} ON ${table} USING (${column} = ${CURRENT_TENANT_SQL}) WITH CHECK (${column} = ${CURRENT_TENANT_SQL})`,
  );
}
