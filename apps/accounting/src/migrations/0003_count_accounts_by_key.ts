import type { Knex } from 'knex';

/**
 * `accounting.count_accounts` as primary-key lookups, one per distinct id: the set-based count of 0002 can be planned
 * as a scan of all the tenant's accounts through another tenant-leading index (and that plan stays cached in a
 * long-lived connection). Same result; `CREATE OR REPLACE` keeps its grants.
 */
export function countAccountsByKeyMigration(): Knex.Migration {
  return {
    async up(knex: Knex): Promise<void> {
      await knex.raw(`
        CREATE OR REPLACE FUNCTION accounting.count_accounts(p_tenant uuid, p_ids uuid[]) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
          v_id uuid;
          v_found integer := 0;
        BEGIN
          PERFORM accounting.use_tenant(p_tenant, NULL);
          FOREACH v_id IN ARRAY ARRAY(SELECT DISTINCT x FROM unnest(p_ids) AS x) LOOP
            PERFORM 1 FROM accounting.accounts a WHERE a.tenant_id = p_tenant AND a.id = v_id;
            IF FOUND THEN
              v_found := v_found + 1;
            END IF;
          END LOOP;
          RETURN v_found;
        END $$`);
    },
    down(): Promise<void> {
      return Promise.reject(new Error('accounting migrations only move forward'));
    },
  };
}
