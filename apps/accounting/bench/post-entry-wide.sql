-- One journal entry on a random pair of 1,000 accounts (ids 00000000-0000-4000-8000-00000000NNNN, created by
-- bench/journal.ts), exactly as POST /v1/journal-entries (without Idempotency-Key) sends it: one statement, see
-- post-entry-hot.sql. Run with -M extended. Variables (-D): tenant, user (uuids).
\set i random(0, 999)
\set j (:i + random(1, 999)) % 1000
\set amt random(1, 100000)
SELECT number::text AS number, created_at
  FROM accounting.post_entry(:tenant::uuid, :user::uuid, gen_random_uuid(), '2026-01-15'::date, 'bench', NULL, NULL::uuid,
         NULL::uuid,
         ARRAY[('00000000-0000-4000-8000-' || lpad(:i::int::text, 12, '0'))::uuid,
               ('00000000-0000-4000-8000-' || lpad(:j::int::text, 12, '0'))::uuid],
         ARRAY[:amt::bigint, 0], ARRAY[0, :amt::bigint],
         jsonb_build_array(jsonb_build_object(
           'tenant_id', :tenant::uuid, 'actor_id', :user::uuid, 'action', 'journal_entry.post',
           'entity_type', 'journal_entry', 'entity_id', gen_random_uuid(), 'request_id', 'pgbench',
           'changes', jsonb_build_object('date', '2026-01-15', 'memo', 'bench', 'total', :amt::bigint, 'source', NULL,
             'reversal_of', NULL, 'lines', jsonb_build_array(
               jsonb_build_object('account_id', '00000000-0000-4000-8000-' || lpad(:i::int::text, 12, '0'),
                                  'debit', :amt::bigint, 'credit', 0),
               jsonb_build_object('account_id', '00000000-0000-4000-8000-' || lpad(:j::int::text, 12, '0'),
                                  'debit', 0, 'credit', :amt::bigint))))));
