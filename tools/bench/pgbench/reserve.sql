-- POST /v1/reservations {warehouse_id, lines: [{product_id, quantity: 1}], ttl_seconds: 86400} with an
-- Idempotency-Key: tenant transaction, 404 check (existingIds), key row (withIdempotency), the single-line
-- reservation statement (reserveOneLine: conditional UPDATE + reservation + line + audit), stored response.
\set t random(:t_lo, :t_hi)
\set s random(1, :skus)
\set k random(1, 4000000000000000000)
SELECT tenant_id AS tenant, user_id AS uid, warehouse_id AS wh,
       lpad(to_hex(n), 8, '0') || '-0001-4000-8000-' || lpad(:s::text, 12, '0') AS product,
       gen_random_uuid() AS rid
  FROM bench.tenants WHERE n = :t \gset
BEGIN;
SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', :uid, true);
SELECT 'w' AS kind, id FROM inventory.warehouses WHERE tenant_id = :tenant AND id = ANY(ARRAY[:wh::uuid])
UNION ALL
SELECT 'p' AS kind, id FROM inventory.products WHERE tenant_id = :tenant AND id = ANY(ARRAY[:product::uuid]);
SELECT set_config('lock_timeout', '10000ms', true);
INSERT INTO inventory.idempotency_keys (tenant_id, method, path, key, request_hash)
  VALUES (:tenant, 'POST', '/v1/reservations', 'pgbench-' || :k::text, md5(:k::text) || md5(:s::text))
  ON CONFLICT (tenant_id, method, path, key) DO NOTHING RETURNING key;
SELECT set_config('lock_timeout', '0', true);
WITH upd AS (
  UPDATE inventory.stock_levels SET reserved = reserved + 1
   WHERE tenant_id = :tenant AND product_id = :product AND warehouse_id = :wh AND on_hand - reserved >= 1
  RETURNING 1
), r AS (
  INSERT INTO inventory.reservations (tenant_id, id, warehouse_id, status, expires_at, created_by)
  SELECT :tenant::uuid, :rid::uuid, :wh::uuid, 'active', now() + make_interval(secs => 86400), :uid::uuid
   WHERE EXISTS (SELECT 1 FROM upd)
  RETURNING expires_at, created_at
), l AS (
  INSERT INTO inventory.reservation_lines (tenant_id, reservation_id, product_id, quantity)
  SELECT :tenant::uuid, :rid::uuid, :product::uuid, 1 FROM r
), a AS (
  INSERT INTO inventory.audit_events (tenant_id, actor_id, action, entity_type, entity_id, request_id, changes)
  SELECT :tenant::uuid, :uid::uuid, 'reservation.create', 'reservation', :rid::text, 'pgbench',
         jsonb_build_object('warehouse_id', :wh::text, 'lines', jsonb_build_array(jsonb_build_object('product_id', :product::text, 'quantity', 1::bigint)),
                            'expires_at', replace(to_char(r.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24#MI#SS.MS"Z"'), '#', chr(58)))
    FROM r
)
SELECT EXISTS (SELECT 1 FROM inventory.warehouses WHERE tenant_id = :tenant AND id = :wh) AS warehouse_exists,
       EXISTS (SELECT 1 FROM inventory.products WHERE tenant_id = :tenant AND id = :product) AS product_exists,
       (SELECT expires_at FROM r) AS expires_at, (SELECT created_at FROM r) AS created_at;
UPDATE inventory.idempotency_keys SET status_code = 201,
       response = jsonb_build_object('id', :rid::text, 'status', 'active', 'warehouse_id', :wh::text,
         'lines', jsonb_build_array(jsonb_build_object('product_id', :product::text, 'quantity', 1)),
         'expires_at', now() + interval '1 day', 'created_at', now())
 WHERE tenant_id = :tenant AND method = 'POST' AND path = '/v1/reservations' AND key = 'pgbench-' || :k::text;
COMMIT;
