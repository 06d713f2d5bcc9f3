-- pgbench script: the same SQL transaction the inventory service runs for POST /v1/reservations with one
-- line of 1 unit and no Idempotency-Key (statement for statement, as kv_app under row-level security; see
-- reserveOneLine in src/data/reservations.ts). Variables (pgbench -D): tenant, user, warehouse (uuids),
-- skus (product n has id 00000000-0000-4000-8000-<n as 12 digits>). pgbench would read ":MI" inside a string
-- literal as a variable, hence the chr(58) for the colons of the ISO timestamp.
\set n random(1, :skus)
BEGIN;
SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', :user, true);
WITH upd AS (
  UPDATE inventory.stock_levels SET reserved = reserved + 1
   WHERE tenant_id = :tenant AND product_id = ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid
     AND warehouse_id = :warehouse AND on_hand - reserved >= 1
  RETURNING 1
), r AS (
  INSERT INTO inventory.reservations (tenant_id, id, warehouse_id, status, expires_at, created_by)
  SELECT :tenant::uuid, gen_random_uuid(), :warehouse::uuid, 'active', now() + make_interval(secs => 900), :user::uuid WHERE EXISTS (SELECT 1 FROM upd)
  RETURNING id, expires_at, created_at
), l AS (
  INSERT INTO inventory.reservation_lines (tenant_id, reservation_id, product_id, quantity)
  SELECT :tenant::uuid, r.id, ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid, 1 FROM r
), a AS (
  INSERT INTO inventory.audit_events (tenant_id, actor_id, action, entity_type, entity_id, request_id, changes)
  SELECT :tenant::uuid, :user::uuid, 'reservation.create', 'reservation', r.id::text, 'pgbench',
         jsonb_build_object('warehouse_id', :warehouse::text, 'lines', jsonb_build_array(jsonb_build_object(
           'product_id', '00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'), 'quantity', 1::bigint)),
           'expires_at', replace(to_char(r.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24_MI_SS.MS"Z"'), '_', chr(58)))
    FROM r
)
SELECT EXISTS (SELECT 1 FROM inventory.warehouses WHERE tenant_id = :tenant AND id = :warehouse) AS warehouse_exists,
       EXISTS (SELECT 1 FROM inventory.products WHERE tenant_id = :tenant
                  AND id = ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid) AS product_exists,
       (SELECT expires_at FROM r) AS expires_at, (SELECT created_at FROM r) AS created_at;
END;
