-- One journal entry on the hot pair of accounts, exactly as POST /v1/journal-entries (without Idempotency-Key)
-- sends it: ONE statement in autocommit mode. accounting.post_entry sets the tenant for the statement's implicit
-- transaction, checks the accounts, inserts the audit row, the entry and its lines; triggers assign the number,
-- check the period and update the balance slots; the deferred trigger checks the balance at commit.
-- Run with -M extended (parameters, like the service's driver). Variables (-D): tenant, user, a1, a2 (uuids).
\set amt random(1, 100000)
SELECT number::text AS number, created_at
  FROM accounting.post_entry(:tenant::uuid, :user::uuid, gen_random_uuid(), '2026-01-15'::date, 'bench', NULL, NULL::uuid,
         NULL::uuid, ARRAY[:a1::uuid, :a2::uuid], ARRAY[:amt::bigint, 0], ARRAY[0, :amt::bigint],
         jsonb_build_array(jsonb_build_object(
           'tenant_id', :tenant::uuid, 'actor_id', :user::uuid, 'action', 'journal_entry.post',
           'entity_type', 'journal_entry', 'entity_id', gen_random_uuid(), 'request_id', 'pgbench',
           'changes', jsonb_build_object('date', '2026-01-15', 'memo', 'bench', 'total', :amt::bigint, 'source', NULL,
             'reversal_of', NULL, 'lines', jsonb_build_array(
               jsonb_build_object('account_id', :a1::uuid, 'debit', :amt::bigint, 'credit', 0),
               jsonb_build_object('account_id', :a2::uuid, 'debit', 0, 'credit', :amt::bigint))))));
