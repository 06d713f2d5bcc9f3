-- One reserve -> commit flow and the posting it causes, as three transactions:
-- 1. POST /v1/reservations with an Idempotency-Key (as reserve.sql);
-- 2. POST /v1/reservations/:id/commit with a key: checkClose, key row, closeActive, findReservation, ship,
--    the shipment movement, its outbox row, audit, stored response (the outbox row is written already
--    'done': this script posts it itself below, so the running worker must not relay it a second time);
-- 3. accounting's consumer for that movement (POST /internal/events/stock-movement): findEntryIdBySource,
--    processed_events row, closed periods, the entry + lines + audit statement (Dr 5000 / Cr 1300 at 100).
\set t random(:t_lo, :t_hi)
\set s random(1, :skus)
\set k random(1, 4000000000000000000)
SELECT tenant_id AS tenant, user_id AS uid, warehouse_id AS wh, acct_1300 AS a1300, acct_5000 AS a5000,
       lpad(to_hex(n), 8, '0') || '-0001-4000-8000-' || lpad(:s::text, 12, '0') AS product,
       gen_random_uuid() AS rid, gen_random_uuid() AS mid, gen_random_uuid() AS eid
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
BEGIN;
SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', :uid, true);
SELECT warehouse_id FROM inventory.reservations WHERE tenant_id = :tenant AND id = :rid;
SELECT set_config('lock_timeout', '10000ms', true);
INSERT INTO inventory.idempotency_keys (tenant_id, method, path, key, request_hash)
  VALUES (:tenant, 'POST', '/v1/reservations/' || :rid::text || '/commit', 'pgbench-c-' || :k::text, md5(:k::text) || md5(:rid::text))
  ON CONFLICT (tenant_id, method, path, key) DO NOTHING RETURNING key;
SELECT set_config('lock_timeout', '0', true);
UPDATE inventory.reservations SET status = 'committed', closed_at = now()
 WHERE tenant_id = :tenant AND id = :rid AND status = 'active' AND expires_at > now();
SELECT r.id, r.warehouse_id, r.expires_at, r.created_at,
       CASE WHEN r.status = 'active' AND r.expires_at <= now() THEN 'expired' ELSE r.status END AS status,
       COALESCE((SELECT json_agg(json_build_object('product_id', l.product_id, 'quantity', l.quantity) ORDER BY l.product_id)
                   FROM inventory.reservation_lines l WHERE l.tenant_id = r.tenant_id AND l.reservation_id = r.id), '[]') AS lines
  FROM inventory.reservations r WHERE r.tenant_id = :tenant AND r.id = :rid;
UPDATE inventory.stock_levels SET on_hand = on_hand - 1, reserved = reserved - 1
 WHERE tenant_id = :tenant AND product_id = :product AND warehouse_id = :wh AND reserved >= 1 RETURNING average_cost;
INSERT INTO inventory.stock_movements (tenant_id, id, type, product_id, warehouse_id, quantity, unit_cost, reference, document_type, document_id)
  VALUES (:tenant, :mid, 'shipment', :product, :wh, -1, 100, 'reservation:' || :rid::text, 'reservation', :rid)
  RETURNING id, created_at;
INSERT INTO inventory.outbox (id, tenant_id, topic, payload, status, done_at)
  VALUES (:mid, :tenant, 'inventory.stock_movement',
          jsonb_build_object('movement_id', :mid::text, 'tenant_id', :tenant::text, 'type', 'shipment', 'product_id', :product::text,
                             'warehouse_id', :wh::text, 'quantity', -1, 'unit_cost', 100, 'value', 100,
                             'occurred_at', replace(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24#MI#SS.MS"Z"'), '#', chr(58)),
                             'reference', 'reservation:' || :rid::text),
          'done', now())
  RETURNING id;
INSERT INTO inventory.audit_events (tenant_id, actor_id, action, entity_type, entity_id, request_id, changes)
  VALUES (:tenant, :uid, 'reservation.commit', 'reservation', :rid::text, 'pgbench', '{"status":{"from":"active","to":"committed"}}');
UPDATE inventory.idempotency_keys SET status_code = 200,
       response = jsonb_build_object('id', :rid::text, 'status', 'committed', 'warehouse_id', :wh::text,
         'lines', jsonb_build_array(jsonb_build_object('product_id', :product::text, 'quantity', 1)),
         'expires_at', now() + interval '1 day', 'created_at', now())
 WHERE tenant_id = :tenant AND method = 'POST' AND path = '/v1/reservations/' || :rid::text || '/commit'
   AND key = 'pgbench-c-' || :k::text;
COMMIT;
BEGIN;
SELECT set_config('app.tenant_id', :tenant, true), set_config('app.user_id', '', true);
SELECT id FROM accounting.journal_entries
 WHERE tenant_id = :tenant AND source_type = 'stock_movement' AND source_id = :mid LIMIT 1;
INSERT INTO accounting.processed_events (tenant_id, event_id, topic, entry_id)
  VALUES (:tenant, :mid, 'inventory.stock_movement', :eid)
  ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING event_id;
SELECT period FROM accounting.fiscal_periods
 WHERE tenant_id = :tenant AND status = 'closed' AND period >= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM') ORDER BY period;
WITH checked AS (
  SELECT (SELECT count(*) FROM accounting.accounts
           WHERE tenant_id = :tenant AND id = ANY(ARRAY[:a5000::uuid, :a1300::uuid])) = 2 AS ok
), e AS (
  INSERT INTO accounting.journal_entries (tenant_id, id, date, memo, source_type, source_id, reversal_of, created_by)
  SELECT :tenant::uuid, :eid::uuid, (now() AT TIME ZONE 'UTC')::date, 'Stock shipment ' || :mid::text || ' (reservation:' || :rid::text || ')',
         'stock_movement', :mid::uuid, NULL::uuid, NULL::uuid
    FROM checked WHERE ok
  RETURNING id, number, created_at
), a AS (
  INSERT INTO accounting.audit_events (tenant_id, actor_id, action, entity_type, entity_id, request_id, changes)
  SELECT :tenant::uuid, NULL::uuid, 'journal_entry.post', 'journal_entry', :eid::text, 'pgbench',
         jsonb_build_object('date', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'memo', 'Stock shipment', 'total', 100,
           'source', jsonb_build_object('type', 'stock_movement', 'id', :mid::text), 'reversal_of', NULL,
           'lines', jsonb_build_array(jsonb_build_object('account_id', :a5000::text, 'debit', 100, 'credit', 0),
                                      jsonb_build_object('account_id', :a1300::text, 'debit', 0, 'credit', 100)))
    FROM checked WHERE checked.ok
), l AS (
  INSERT INTO accounting.journal_lines (tenant_id, entry_id, line_no, account_id, debit, credit)
  SELECT :tenant::uuid, e.id, x.line_no, x.account_id, x.debit, x.credit
    FROM e, unnest(ARRAY[1, 2]::smallint[], ARRAY[:a5000::uuid, :a1300::uuid], ARRAY[100, 0]::bigint[], ARRAY[0, 100]::bigint[])
         AS x(line_no, account_id, debit, credit)
)
SELECT number::text AS number, created_at FROM e;
COMMIT;
