import { createFencingTable } from '@kv/distributed-lock';
import { createIdempotencyTable } from '@kv/idempotency';
import { createOutboxTable } from '@kv/outbox';
import { createAuditTable } from '@kv/audit';
import { enableTenantRls } from '@kv/tenant-context';
import type { Knex } from 'knex';
import type { MigrationRoles } from './roles';

/**
 * The ledger schema. Every table is tenant-leading with FORCEd row-level security. The request role
 * (`kv_app`) owns nothing and gets only SELECT/INSERT on the ledger tables: posted entries and lines have no
 * UPDATE/DELETE grant, and triggers refuse UPDATE/DELETE/TRUNCATE even for the owner.
 *
 * Database-enforced rules (see docs/decisions/0001-hot-account-balances.md):
 * - a line has exactly one of debit/credit > 0 (CHECK);
 * - a DEFERRABLE INITIALLY DEFERRED constraint trigger refuses, at commit, an entry with fewer than 2 lines
 *   or whose debits and credits differ;
 * - lines can only be added to an entry inserted by the same transaction (so a posted entry never changes);
 * - a posting takes a shared advisory lock on (tenant, period) and refuses a closed period; a close takes the
 *   exclusive lock, so it waits for in-flight postings and every later posting sees it;
 * - balances live in N slot rows per account, maintained by a statement trigger in the posting transaction.
 */
export function ledgerMigration(roles: MigrationRoles): Knex.Migration {
  const { app, system } = roles;
  return {
    async up(knex: Knex): Promise<void> {
      const rls = (k: Knex, table: string) => enableTenantRls(k, table);
      await knex.raw(`CREATE SCHEMA IF NOT EXISTS accounting`);
      await knex.raw(`GRANT USAGE ON SCHEMA accounting TO ${app}, ${system}`);

      // ---------------------------------------------------------------- accounts
      await knex.raw(`
        CREATE TABLE IF NOT EXISTS accounting.accounts (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          code text COLLATE "C" NOT NULL CHECK (char_length(code) BETWEEN 1 AND 64),
          name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
          type text NOT NULL CHECK (type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
          is_system boolean NOT NULL DEFAULT false,
          created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
          CONSTRAINT accounts_pkey PRIMARY KEY (tenant_id, id),
          CONSTRAINT accounts_tenant_code_key UNIQUE (tenant_id, code)
        )`);
      await rls(knex, 'accounting.accounts');
      await knex.raw(`GRANT SELECT, INSERT ON accounting.accounts TO ${app}`);

      // -------------------------------------------------- balance slots per account
      // Postings add to one of N slot rows per account (chosen per transaction), so concurrent postings to a
      // hot account update different rows; a balance is the sum of its slots. fillfactor leaves room for HOT
      // updates (no index column changes).
      await knex.raw(`
        CREATE TABLE IF NOT EXISTS accounting.account_balances (
          tenant_id uuid NOT NULL,
          account_id uuid NOT NULL,
          slot smallint NOT NULL CHECK (slot >= 0),
          debit bigint NOT NULL DEFAULT 0 CHECK (debit >= 0),
          credit bigint NOT NULL DEFAULT 0 CHECK (credit >= 0),
          CONSTRAINT account_balances_pkey PRIMARY KEY (tenant_id, account_id, slot)
        ) WITH (fillfactor = 50)`);
      await rls(knex, 'accounting.account_balances');
      await knex.raw(`GRANT SELECT ON accounting.account_balances TO ${app}`);

      // ---------------------------------------------------------- journal entries
      await knex.raw(`CREATE SEQUENCE IF NOT EXISTS accounting.journal_entry_number_seq AS bigint`);
      await knex.raw(`
        CREATE TABLE IF NOT EXISTS accounting.journal_entries (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL DEFAULT gen_random_uuid(),
          number bigint NOT NULL,
          date date NOT NULL CHECK (date BETWEEN DATE '1900-01-01' AND DATE '9999-12-31'),
          memo text CHECK (memo IS NULL OR char_length(memo) <= 1000),
          status text NOT NULL DEFAULT 'posted' CHECK (status = 'posted'),
          source_type text CHECK (source_type IN ('stock_movement')),
          source_id uuid,
          reversal_of uuid,
          created_by uuid,
          created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
          txid xid8 NOT NULL,
          CONSTRAINT journal_entries_pkey PRIMARY KEY (tenant_id, id),
          CONSTRAINT journal_entries_tenant_number_key UNIQUE (tenant_id, number),
          CONSTRAINT journal_entries_source_pair CHECK ((source_type IS NULL) = (source_id IS NULL)),
          CONSTRAINT journal_entries_reversal_fkey FOREIGN KEY (tenant_id, reversal_of)
            REFERENCES accounting.journal_entries (tenant_id, id)
        )`);
      await knex.raw(`CREATE UNIQUE INDEX IF NOT EXISTS journal_entries_one_reversal
        ON accounting.journal_entries (tenant_id, reversal_of) WHERE reversal_of IS NOT NULL`);
      await knex.raw(`CREATE UNIQUE INDEX IF NOT EXISTS journal_entries_one_per_source
        ON accounting.journal_entries (tenant_id, source_type, source_id) WHERE source_type IS NOT NULL`);
      await knex.raw(`CREATE INDEX IF NOT EXISTS journal_entries_by_date
        ON accounting.journal_entries (tenant_id, date DESC, number DESC)`);
      await rls(knex, 'accounting.journal_entries');
      await knex.raw(`GRANT SELECT, INSERT ON accounting.journal_entries TO ${app}`);

      await knex.raw(`
        CREATE TABLE IF NOT EXISTS accounting.journal_lines (
          tenant_id uuid NOT NULL,
          entry_id uuid NOT NULL,
          line_no smallint NOT NULL CHECK (line_no >= 1),
          account_id uuid NOT NULL,
          debit bigint NOT NULL CHECK (debit BETWEEN 0 AND 1000000000000000),
          credit bigint NOT NULL CHECK (credit BETWEEN 0 AND 1000000000000000),
          CONSTRAINT journal_lines_one_side CHECK ((debit > 0) <> (credit > 0)),
          CONSTRAINT journal_lines_pkey PRIMARY KEY (tenant_id, entry_id, line_no),
          CONSTRAINT journal_lines_entry_fkey FOREIGN KEY (tenant_id, entry_id)
            REFERENCES accounting.journal_entries (tenant_id, id)
        )`);
      await knex.raw(`CREATE INDEX IF NOT EXISTS journal_lines_by_account
        ON accounting.journal_lines (tenant_id, account_id, entry_id)`);
      await rls(knex, 'accounting.journal_lines');
      await knex.raw(`GRANT SELECT, INSERT ON accounting.journal_lines TO ${app}`);

      // ----------------------------------------------------------- fiscal periods
      // A row exists once a period was closed (no row = open). fence_token is the newest lock fencing token
      // that wrote it; closed_snapshot is the close transaction's snapshot taken after it waited for every
      // in-flight posting of the period (an audit trail of "committed before the close").
      await knex.raw(`
        CREATE TABLE IF NOT EXISTS accounting.fiscal_periods (
          tenant_id uuid NOT NULL,
          period text COLLATE "C" NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
          status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
          fence_token bigint NOT NULL DEFAULT 0,
          closed_at timestamptz,
          closed_by uuid,
          closed_snapshot pg_snapshot,
          CONSTRAINT fiscal_periods_pkey PRIMARY KEY (tenant_id, period),
          CONSTRAINT fiscal_periods_closed_at CHECK ((status = 'closed') = (closed_at IS NOT NULL))
        )`);
      await rls(knex, 'accounting.fiscal_periods');
      await knex.raw(`GRANT SELECT, INSERT, UPDATE ON accounting.fiscal_periods TO ${app}`);

      // ---------------------------------------------------- consumer de-duplication
      await knex.raw(`
        CREATE TABLE IF NOT EXISTS accounting.processed_events (
          tenant_id uuid NOT NULL,
          event_id uuid NOT NULL,
          topic text NOT NULL,
          entry_id uuid,
          processed_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT processed_events_pkey PRIMARY KEY (tenant_id, event_id)
        )`);
      await rls(knex, 'accounting.processed_events');
      await knex.raw(`GRANT SELECT, INSERT ON accounting.processed_events TO ${app}`);

      // ------------------------------------------------ shared helpers' tables
      await createIdempotencyTable(knex, 'accounting', { appRole: app, systemRole: system, enableRls: rls });
      await createOutboxTable(knex, 'accounting', { appRole: app, systemRole: system, enableRls: rls });
      await createAuditTable(knex, 'accounting', { appRole: app, enableRls: rls });
      await createFencingTable(knex, 'accounting', { grantTo: [app] });

      // ------------------------------------------------------------ functions
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.period_lock_key(p_tenant uuid, p_period text) RETURNS bigint
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT hashtextextended('accounting.period:' || p_tenant::text || ':' || p_period, 0) $$`);

      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.refuse_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% rows are immutable: % is not allowed', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'KVA03';
        END $$`);

      // Before a journal entry row is stored: server-assigned number/txid/created_at, period lock + check,
      // reversal rules. SECURITY DEFINER so the request role needs no grant on the sequence.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.journal_entries_before_insert() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
          v_period text := to_char(NEW.date, 'YYYY-MM');
          v_status text;
          v_target accounting.journal_entries%ROWTYPE;
        BEGIN
          -- The closed-period check below must read the newest committed close, which only READ COMMITTED
          -- guarantees after waiting for the lock.
          IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'journal entries must be posted in a READ COMMITTED transaction'
              USING ERRCODE = 'KVA06';
          END IF;
          NEW.number := nextval('accounting.journal_entry_number_seq');
          NEW.txid := pg_current_xact_id();
          NEW.status := 'posted';
          NEW.created_at := date_trunc('milliseconds', now());
          -- Shared with every other posting of the period, exclusive with its close: the close waits for the
          -- postings in flight, and a posting that arrives during or after the close sees it.
          PERFORM pg_advisory_xact_lock_shared(accounting.period_lock_key(NEW.tenant_id, v_period));
          SELECT status INTO v_status FROM accounting.fiscal_periods
            WHERE tenant_id = NEW.tenant_id AND period = v_period;
          IF v_status = 'closed' THEN
            RAISE EXCEPTION 'period % is closed', v_period USING ERRCODE = 'KVA01';
          END IF;
          IF NEW.reversal_of IS NOT NULL THEN
            SELECT * INTO v_target FROM accounting.journal_entries
              WHERE tenant_id = NEW.tenant_id AND id = NEW.reversal_of;
            IF NOT FOUND THEN
              RAISE EXCEPTION 'journal entry % does not exist', NEW.reversal_of USING ERRCODE = 'KVA05';
            END IF;
            IF v_target.reversal_of IS NOT NULL THEN
              RAISE EXCEPTION 'journal entry % is a reversal and cannot be reversed', NEW.reversal_of
                USING ERRCODE = 'KVA04';
            END IF;
          END IF;
          RETURN NEW;
        END $$`);
      await knex.raw(`DROP TRIGGER IF EXISTS journal_entries_before_insert ON accounting.journal_entries`);
      await knex.raw(`CREATE TRIGGER journal_entries_before_insert BEFORE INSERT ON accounting.journal_entries
        FOR EACH ROW EXECUTE FUNCTION accounting.journal_entries_before_insert()`);

      // At commit: at least 2 lines and debits = credits. Deferred so the entry and its lines can be inserted
      // in any order within the transaction; a SET CONSTRAINTS ... IMMEDIATE only makes it fail earlier.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.journal_entry_balanced() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
          v_lines bigint;
          v_debit numeric;
          v_credit numeric;
        BEGIN
          SELECT count(*), COALESCE(sum(debit), 0), COALESCE(sum(credit), 0)
            INTO v_lines, v_debit, v_credit
            FROM accounting.journal_lines WHERE tenant_id = NEW.tenant_id AND entry_id = NEW.id;
          IF v_lines < 2 THEN
            RAISE EXCEPTION 'journal entry % has % line(s); at least 2 are required', NEW.id, v_lines
              USING ERRCODE = 'KVA02';
          END IF;
          IF v_debit <> v_credit THEN
            RAISE EXCEPTION 'journal entry % is unbalanced: debits % <> credits %', NEW.id, v_debit, v_credit
              USING ERRCODE = 'KVA02';
          END IF;
          RETURN NULL;
        END $$`);
      await knex.raw(`DROP TRIGGER IF EXISTS journal_entry_balanced ON accounting.journal_entries`);
      await knex.raw(`CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT ON accounting.journal_entries
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION accounting.journal_entry_balanced()`);

      // After each INSERT statement on lines: lines only join an entry of the same transaction, accounts
      // must exist in the tenant (checked here instead of a foreign key, whose KEY SHARE lock would make the
      // hot account's row a contention point), and the balance slots are updated. One slot per transaction,
      // rows aggregated per account and upserted in (tenant, account) order, so two postings never deadlock.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.journal_lines_after_insert() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
          v_slots int := COALESCE(NULLIF(current_setting('accounting.balance_slots', true), '')::int, 64);
          v_slot smallint;
        BEGIN
          IF EXISTS (SELECT 1 FROM new_lines l
                       JOIN accounting.journal_entries e ON e.tenant_id = l.tenant_id AND e.id = l.entry_id
                      WHERE e.txid <> pg_current_xact_id()) THEN
            RAISE EXCEPTION 'lines cannot be added to a posted journal entry' USING ERRCODE = 'KVA03';
          END IF;
          IF EXISTS (SELECT 1 FROM new_lines l
                      WHERE NOT EXISTS (SELECT 1 FROM accounting.accounts a
                                         WHERE a.tenant_id = l.tenant_id AND a.id = l.account_id)) THEN
            RAISE EXCEPTION 'journal line refers to an unknown account' USING ERRCODE = 'KVA05';
          END IF;
          v_slot := (pg_current_xact_id()::text::bigint % GREATEST(1, LEAST(v_slots, 1024)))::smallint;
          INSERT INTO accounting.account_balances AS b (tenant_id, account_id, slot, debit, credit)
            SELECT tenant_id, account_id, v_slot, sum(debit), sum(credit)
              FROM new_lines GROUP BY tenant_id, account_id ORDER BY tenant_id, account_id
            ON CONFLICT (tenant_id, account_id, slot)
            DO UPDATE SET debit = b.debit + EXCLUDED.debit, credit = b.credit + EXCLUDED.credit;
          RETURN NULL;
        END $$`);
      await knex.raw(`DROP TRIGGER IF EXISTS journal_lines_after_insert ON accounting.journal_lines`);
      await knex.raw(`CREATE TRIGGER journal_lines_after_insert AFTER INSERT ON accounting.journal_lines
        REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION accounting.journal_lines_after_insert()`);

      // Posted rows never change; not even the owner may update, delete or truncate them.
      const immutable: [string, string][] = [
        ['journal_entries', 'UPDATE OR DELETE'],
        ['journal_lines', 'UPDATE OR DELETE'],
        ['processed_events', 'UPDATE OR DELETE'],
        ['accounts', 'DELETE'],
        ['account_balances', 'DELETE'],
        ['fiscal_periods', 'DELETE'],
      ];
      for (const [table, ops] of immutable) {
        await knex.raw(`DROP TRIGGER IF EXISTS ${table}_immutable ON accounting.${table}`);
        await knex.raw(`CREATE TRIGGER ${table}_immutable BEFORE ${ops} ON accounting.${table}
          FOR EACH ROW EXECUTE FUNCTION accounting.refuse_change()`);
        await knex.raw(`DROP TRIGGER IF EXISTS ${table}_no_truncate ON accounting.${table}`);
        await knex.raw(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON accounting.${table}
          FOR EACH STATEMENT EXECUTE FUNCTION accounting.refuse_change()`);
      }

      // Accounts keep their identity (lines refer to them without a foreign key).
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.accounts_before_update() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.tenant_id <> OLD.tenant_id OR NEW.id <> OLD.id OR NEW.code <> OLD.code
             OR NEW.type <> OLD.type OR NEW.is_system <> OLD.is_system THEN
            RAISE EXCEPTION 'an account''s tenant, id, code, type and system flag cannot change'
              USING ERRCODE = 'KVA03';
          END IF;
          RETURN NEW;
        END $$`);
      await knex.raw(`DROP TRIGGER IF EXISTS accounts_before_update ON accounting.accounts`);
      await knex.raw(`CREATE TRIGGER accounts_before_update BEFORE UPDATE ON accounting.accounts
        FOR EACH ROW EXECUTE FUNCTION accounting.accounts_before_update()`);

      // A closed period stays closed, and its fence token never goes back.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.fiscal_periods_before_update() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.tenant_id <> OLD.tenant_id OR NEW.period <> OLD.period THEN
            RAISE EXCEPTION 'a fiscal period''s tenant and period cannot change' USING ERRCODE = 'KVA03';
          END IF;
          IF OLD.status = 'closed' AND NEW.status <> 'closed' THEN
            RAISE EXCEPTION 'period % is closed and cannot be reopened', OLD.period USING ERRCODE = 'KVA03';
          END IF;
          IF NEW.fence_token < OLD.fence_token THEN
            RAISE EXCEPTION 'stale fencing token % (newest %)', NEW.fence_token, OLD.fence_token
              USING ERRCODE = 'KVA07';
          END IF;
          RETURN NEW;
        END $$`);
      await knex.raw(`DROP TRIGGER IF EXISTS fiscal_periods_before_update ON accounting.fiscal_periods`);
      await knex.raw(`CREATE TRIGGER fiscal_periods_before_update BEFORE UPDATE ON accounting.fiscal_periods
        FOR EACH ROW EXECUTE FUNCTION accounting.fiscal_periods_before_update()`);

      await knex.raw(`REVOKE ALL ON ALL FUNCTIONS IN SCHEMA accounting FROM PUBLIC`);
      await knex.raw(`GRANT EXECUTE ON FUNCTION accounting.period_lock_key(uuid, text) TO ${app}`);
    },
    down(): Promise<void> {
      return Promise.reject(new Error('accounting migrations only move forward'));
    },
  };
}
