-- GET /v1/products/:id: read-only tenant transaction, one row.
\set t random(:t_lo, :t_hi)
\set s random(1, :skus)
SELECT tenant_id AS tenant, user_id AS uid,
       lpad(to_hex(n), 8, '0') || '-0001-4000-8000-' || lpad(:s::text, 12, '0') AS product
  FROM bench.tenants WHERE n = :t \gset
BEGIN TRANSACTION READ ONLY;
SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', :uid, true);
SELECT id, sku, name, unit, created_at FROM inventory.products WHERE tenant_id = :tenant AND id = :product;
COMMIT;
