-- GET /v1/journal-entries?limit=20: read-only tenant transaction, newest 21 entries, then their lines and
-- reversals (hydrate; the service sends these two at once).
\set t random(:t_lo, :t_hi)
SELECT tenant_id AS tenant, user_id AS uid FROM bench.tenants WHERE n = :t \gset
BEGIN TRANSACTION READ ONLY;
SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', :uid, true);
SELECT COALESCE(array_agg(id), ARRAY[]::uuid[]) AS ids FROM (
  SELECT e.id, e.number::text AS number, to_char(e.date, 'YYYY-MM-DD') AS date, e.memo, e.source_type, e.source_id,
         e.reversal_of, e.created_at
    FROM accounting.journal_entries e WHERE e.tenant_id = :tenant ORDER BY e.date DESC, e.number DESC LIMIT 21) p \gset
SELECT entry_id, account_id, debit::text AS debit, credit::text AS credit FROM accounting.journal_lines
 WHERE tenant_id = :tenant AND entry_id = ANY(:ids::uuid[]) ORDER BY entry_id, line_no;
SELECT reversal_of, id FROM accounting.journal_entries WHERE tenant_id = :tenant AND reversal_of = ANY(:ids::uuid[]);
COMMIT;
