-- GET /v1/stock?product_id=&warehouse_id=: read-only tenant transaction, 404 check of both ids, the page (limit 50 + 1).
\set t random(:t_lo, :t_hi)
\set s random(1, :skus)
SELECT tenant_id AS tenant, user_id AS uid, warehouse_id AS wh,
       lpad(to_hex(n), 8, '0') || '-0001-4000-8000-' || lpad(:s::text, 12, '0') AS product
  FROM bench.tenants WHERE n = :t \gset
BEGIN TRANSACTION READ ONLY;
SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', :uid, true);
SELECT 'w' AS kind, id FROM inventory.warehouses WHERE tenant_id = :tenant AND id = ANY(ARRAY[:wh::uuid])
UNION ALL
SELECT 'p' AS kind, id FROM inventory.products WHERE tenant_id = :tenant AND id = ANY(ARRAY[:product::uuid]);
SELECT product_id, warehouse_id, on_hand, reserved, average_cost FROM inventory.stock_levels
 WHERE tenant_id = :tenant AND product_id = :product AND warehouse_id = :wh ORDER BY product_id, warehouse_id LIMIT 51;
COMMIT;
