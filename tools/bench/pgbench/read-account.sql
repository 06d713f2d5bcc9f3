-- GET /v1/accounts/:id: read-only tenant transaction, the account, its balance (sum of its balance slots).
\set t random(:t_lo, :t_hi)
\set i random(1, :accts)
SELECT tenant_id AS tenant, user_id AS uid,
       lpad(to_hex(n), 8, '0') || '-0002-4000-8000-' || lpad(:i::text, 12, '0') AS acct
  FROM bench.tenants WHERE n = :t \gset
BEGIN TRANSACTION READ ONLY;
SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', :uid, true);
SELECT id, code, name, type, is_system, created_at FROM accounting.accounts WHERE tenant_id = :tenant AND id = :acct LIMIT 1;
SELECT COALESCE(sum(debit), 0)::text AS debit, COALESCE(sum(credit), 0)::text AS credit
  FROM accounting.account_balances WHERE tenant_id = :tenant AND account_id = :acct;
COMMIT;
