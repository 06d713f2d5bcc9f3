-- POST /v1/journal-entries {date, memo, lines: [Dr account i, Cr account j]} with an Idempotency-Key: tenant
-- transaction, key row, the one-statement entry + lines + audit (insertEntry), stored response. Bench
-- accounts 1..accts of the tenant; accts=2 is the hot pair.
\set t random(:t_lo, :t_hi)
\set i random(1, :accts)
\set j 1 + (:i + random(0, :accts - 2)) % :accts
\set amt random(1, 100000)
\set k random(1, 4000000000000000000)
SELECT tenant_id AS tenant, user_id AS uid,
       lpad(to_hex(n), 8, '0') || '-0002-4000-8000-' || lpad(:i::text, 12, '0') AS a1,
       lpad(to_hex(n), 8, '0') || '-0002-4000-8000-' || lpad(:j::text, 12, '0') AS a2,
       gen_random_uuid() AS eid
  FROM bench.tenants WHERE n = :t \gset
BEGIN;
SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', :uid, true);
SELECT set_config('lock_timeout', '10000ms', true);
INSERT INTO accounting.idempotency_keys (tenant_id, method, path, key, request_hash)
  VALUES (:tenant, 'POST', '/v1/journal-entries', 'pgbench-' || :k::text, md5(:k::text) || md5(:amt::text))
  ON CONFLICT (tenant_id, method, path, key) DO NOTHING RETURNING key;
SELECT set_config('lock_timeout', '0', true);
WITH checked AS (
  SELECT (SELECT count(*) FROM accounting.accounts
           WHERE tenant_id = :tenant AND id = ANY(ARRAY[:a1::uuid, :a2::uuid])) = 2 AS ok
), e AS (
  INSERT INTO accounting.journal_entries (tenant_id, id, date, memo, source_type, source_id, reversal_of, created_by)
  SELECT :tenant::uuid, :eid::uuid, (now() AT TIME ZONE 'UTC')::date, 'bench', NULL, NULL::uuid, NULL::uuid, :uid::uuid
    FROM checked WHERE ok
  RETURNING id, number, created_at
), a AS (
  INSERT INTO accounting.audit_events (tenant_id, actor_id, action, entity_type, entity_id, request_id, changes)
  SELECT :tenant::uuid, :uid::uuid, 'journal_entry.post', 'journal_entry', :eid::text, 'pgbench',
         jsonb_build_object('date', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'memo', 'bench', 'total', :amt::bigint,
           'source', NULL, 'reversal_of', NULL,
           'lines', jsonb_build_array(jsonb_build_object('account_id', :a1::text, 'debit', :amt::bigint, 'credit', 0),
                                      jsonb_build_object('account_id', :a2::text, 'debit', 0, 'credit', :amt::bigint)))
    FROM checked WHERE checked.ok
), l AS (
  INSERT INTO accounting.journal_lines (tenant_id, entry_id, line_no, account_id, debit, credit)
  SELECT :tenant::uuid, e.id, x.line_no, x.account_id, x.debit, x.credit
    FROM e, unnest(ARRAY[1, 2]::smallint[], ARRAY[:a1::uuid, :a2::uuid], ARRAY[:amt::bigint, 0], ARRAY[0, :amt::bigint])
         AS x(line_no, account_id, debit, credit)
)
SELECT number::text AS number, created_at FROM e;
UPDATE accounting.idempotency_keys SET status_code = 201,
       response = jsonb_build_object('id', :eid::text, 'number', 1, 'date', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
         'memo', 'bench', 'status', 'posted', 'source', NULL, 'reversal_of', NULL,
         'lines', jsonb_build_array(jsonb_build_object('account_id', :a1::text, 'debit', :amt::bigint, 'credit', 0),
                                    jsonb_build_object('account_id', :a2::text, 'debit', 0, 'credit', :amt::bigint)),
         'created_at', now())
 WHERE tenant_id = :tenant AND method = 'POST' AND path = '/v1/journal-entries' AND key = 'pgbench-' || :k::text;
COMMIT;
