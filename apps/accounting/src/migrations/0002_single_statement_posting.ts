import type { Knex } from 'knex';
import type { MigrationRoles } from './roles';

/**
 * Posting in one statement, and the lines trigger's checks as key lookups. `accounting.post_entry(...)` inserts the audit rows, the entry and its lines (the
 * triggers of 0001 still assign the number, check the period, update the balance slots and, at commit, the
 * balance), so a posting without an idempotency key is ONE round trip in autocommit mode: the implicit
 * transaction of that statement is the posting's transaction. Inside an explicit tenant transaction it is called
 * the same way.
 *
 * The functions run as the caller (`SECURITY INVOKER`): row-level security applies. `accounting.use_tenant` sets
 * the tenant for the current transaction when none is set, and refuses a different one when it is: a tenant
 * transaction opened by the service stays authoritative.
 */
export function postEntryFunctionMigration(roles: MigrationRoles): Knex.Migration {
  const { app } = roles;
  return {
    async up(knex: Knex): Promise<void> {
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.use_tenant(p_tenant uuid, p_user uuid) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE
          v_current text := NULLIF(current_setting('app.tenant_id', true), '');
        BEGIN
          IF v_current IS NULL THEN
            PERFORM set_config('app.tenant_id', p_tenant::text, true),
                    set_config('app.user_id', COALESCE(p_user::text, ''), true);
          ELSIF v_current <> p_tenant::text THEN
            RAISE EXCEPTION 'the transaction belongs to another tenant' USING ERRCODE = '42501';
          END IF;
        END $$`);

      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.count_accounts(p_tenant uuid, p_ids uuid[]) RETURNS integer
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM accounting.use_tenant(p_tenant, NULL);
          RETURN (SELECT count(*) FROM accounting.accounts WHERE tenant_id = p_tenant AND id = ANY(p_ids));
        END $$`);

      // Returns no row (and writes nothing) when an account does not exist in the tenant.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.post_entry(
          p_tenant uuid, p_user uuid, p_id uuid, p_date date, p_memo text, p_source_type text, p_source_id uuid,
          p_reversal_of uuid, p_accounts uuid[], p_debits bigint[], p_credits bigint[], p_audit jsonb)
        RETURNS TABLE (number bigint, created_at timestamptz)
        LANGUAGE plpgsql AS $$
        DECLARE
          v_account uuid;
        BEGIN
          PERFORM accounting.use_tenant(p_tenant, p_user);
          -- Unknown accounts answer before the period check of the insert trigger (404 before 409). Primary-key
          -- lookups one by one: a set-based form may be planned as a scan of all the tenant's accounts.
          FOREACH v_account IN ARRAY p_accounts LOOP
            PERFORM 1 FROM accounting.accounts a WHERE a.tenant_id = p_tenant AND a.id = v_account;
            IF NOT FOUND THEN
              RETURN;
            END IF;
          END LOOP;
          INSERT INTO accounting.audit_events (tenant_id, actor_id, action, entity_type, entity_id, request_id, changes)
          SELECT x.tenant_id, x.actor_id, x.action, x.entity_type, x.entity_id, x.request_id, x.changes
            FROM jsonb_to_recordset(p_audit)
                 AS x(tenant_id uuid, actor_id uuid, action text, entity_type text, entity_id text, request_id text,
                      changes jsonb);
          -- Lines last: the balance slot rows they lock are held for as short a time as possible.
          RETURN QUERY
          WITH e AS (
            INSERT INTO accounting.journal_entries AS je
                   (tenant_id, id, date, memo, source_type, source_id, reversal_of, created_by)
            VALUES (p_tenant, p_id, p_date, p_memo, p_source_type, p_source_id, p_reversal_of, p_user)
            RETURNING je.id, je.number, je.created_at
          ), l AS (
            INSERT INTO accounting.journal_lines (tenant_id, entry_id, line_no, account_id, debit, credit)
            SELECT p_tenant, e.id, x.n::smallint, x.account_id, x.debit, x.credit
              FROM e, unnest(p_accounts, p_debits, p_credits) WITH ORDINALITY AS x(account_id, debit, credit, n)
          )
          SELECT e.number, e.created_at FROM e;
        END $$`);

      // The lines trigger of 0001, with its checks as primary-key lookups per distinct entry and account: the
      // set-based joins could be planned (and the plan cached in a long-lived connection) while the tables were
      // still small, and then scan a whole tenant's entries or accounts on every posting.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.journal_lines_after_insert() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
          v_slots int := COALESCE(NULLIF(current_setting('accounting.balance_slots', true), '')::int, 64);
          v_slot smallint;
          v_key record;
          v_txid xid8;
        BEGIN
          FOR v_key IN SELECT DISTINCT tenant_id, entry_id FROM new_lines LOOP
            SELECT e.txid INTO v_txid FROM accounting.journal_entries e
             WHERE e.tenant_id = v_key.tenant_id AND e.id = v_key.entry_id;
            IF v_txid IS DISTINCT FROM pg_current_xact_id() THEN
              RAISE EXCEPTION 'lines cannot be added to a posted journal entry' USING ERRCODE = 'KVA03';
            END IF;
          END LOOP;
          FOR v_key IN SELECT DISTINCT tenant_id, account_id FROM new_lines LOOP
            PERFORM 1 FROM accounting.accounts a WHERE a.tenant_id = v_key.tenant_id AND a.id = v_key.account_id;
            IF NOT FOUND THEN
              RAISE EXCEPTION 'journal line refers to an unknown account' USING ERRCODE = 'KVA05';
            END IF;
          END LOOP;
          v_slot := (pg_current_xact_id()::text::bigint % GREATEST(1, LEAST(v_slots, 1024)))::smallint;
          INSERT INTO accounting.account_balances AS b (tenant_id, account_id, slot, debit, credit)
            SELECT tenant_id, account_id, v_slot, sum(debit), sum(credit)
              FROM new_lines GROUP BY tenant_id, account_id ORDER BY tenant_id, account_id
            ON CONFLICT (tenant_id, account_id, slot)
            DO UPDATE SET debit = b.debit + EXCLUDED.debit, credit = b.credit + EXCLUDED.credit;
          RETURN NULL;
        END $$`);

      await knex.raw(`REVOKE ALL ON FUNCTION accounting.use_tenant(uuid, uuid) FROM PUBLIC`);
      await knex.raw(`REVOKE ALL ON FUNCTION accounting.count_accounts(uuid, uuid[]) FROM PUBLIC`);
      await knex.raw(
        `REVOKE ALL ON FUNCTION accounting.post_entry(uuid, uuid, uuid, date, text, text, uuid, uuid, uuid[], bigint[], bigint[], jsonb) FROM PUBLIC`,
      );
      await knex.raw(`GRANT EXECUTE ON FUNCTION accounting.use_tenant(uuid, uuid) TO ${app}`);
      await knex.raw(`GRANT EXECUTE ON FUNCTION accounting.count_accounts(uuid, uuid[]) TO ${app}`);
      await knex.raw(
        `GRANT EXECUTE ON FUNCTION accounting.post_entry(uuid, uuid, uuid, date, text, text, uuid, uuid, uuid[], bigint[], bigint[], jsonb) TO ${app}`,
      );
    },
    down(): Promise<void> {
      return Promise.reject(new Error('accounting migrations only move forward'));
    },
  };
}
