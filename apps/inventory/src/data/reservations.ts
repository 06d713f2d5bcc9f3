import type { ReservationStatus } from '@kv/api-contract';
import { execute, iso, num, query, type Db } from './sql';
import { SCHEMA, T } from './schema';

export interface ReservationLineRow {
  product_id: string;
  quantity: number;
}

export interface ReservationRow {
  id: string;
  warehouse_id: string;
  /** As reported: an active reservation past `expires_at` reads as `expired`. */
  status: ReservationStatus;
  lines: ReservationLineRow[];
  expires_at: string;
  created_at: string;
}

interface RawReservation {
  id: string;
  warehouse_id: string;
  status: ReservationStatus;
  expires_at: Date;
  created_at: Date;
  lines: { product_id: string; quantity: number | string }[];
}

const toRow = (r: RawReservation): ReservationRow => ({
  id: r.id,
  warehouse_id: r.warehouse_id,
  status: r.status,
  lines: r.lines.map((l) => ({ product_id: l.product_id, quantity: num(l.quantity) })),
  expires_at: iso(r.expires_at),
  created_at: iso(r.created_at),
});

/** Inserts a reservation and its lines in one statement. Lines must already be merged. */
export async function insertReservation(
  db: Db,
  r: {
    tenantId: string;
    id: string;
    warehouseId: string;
    ttlSeconds: number;
    createdBy: string | null;
    lines: ReservationLineRow[];
  },
): Promise<ReservationRow> {
  const rows = await query<{ expires_at: Date; created_at: Date }>(
    db,
    `WITH r AS (
       INSERT INTO ${T.reservations} (tenant_id, id, warehouse_id, status, expires_at, created_by)
       VALUES (?, ?, ?, 'active', now() + make_interval(secs => ?), ?)
       RETURNING expires_at, created_at
     ), l AS (
       INSERT INTO ${T.reservationLines} (tenant_id, reservation_id, product_id, quantity)
       SELECT ?, ?, p, q FROM unnest(?::uuid[], ?::bigint[]) AS t(p, q)
     )
     SELECT expires_at, created_at FROM r`,
    [
      r.tenantId,
      r.id,
      r.warehouseId,
      r.ttlSeconds,
      r.createdBy,
      r.tenantId,
      r.id,
      r.lines.map((l) => l.product_id),
      r.lines.map((l) => l.quantity),
    ],
  );
  const row = rows[0]!;
  return {
    id: r.id,
    warehouse_id: r.warehouseId,
    status: 'active',
    lines: r.lines,
    expires_at: iso(row.expires_at),
    created_at: iso(row.created_at),
  };
}

/**
 * The whole single-line reservation in ONE statement: checks that warehouse and product exist, reserves with
 * the conditional UPDATE, and only if that changed a row inserts the reservation, its line and its audit event
 * (same columns as `@kv/audit`'s writeAudit). Fewer round trips keep the hot row locked for less time.
 * @returns whether each reference exists, and the reservation when stock was reserved.
 */
export async function reserveOneLine(
  db: Db,
  r: {
    tenantId: string;
    id: string;
    warehouseId: string;
    line: ReservationLineRow;
    ttlSeconds: number;
    createdBy: string | null;
    requestId: string | null;
  },
): Promise<{ warehouseExists: boolean; productExists: boolean; row?: ReservationRow }> {
  const rows = await query<{
    warehouse_exists: boolean;
    product_exists: boolean;
    expires_at: Date | null;
    created_at: Date | null;
  }>(
    db,
    `WITH upd AS (
       UPDATE ${T.stock} SET reserved = reserved + ?
        WHERE tenant_id = ? AND product_id = ? AND warehouse_id = ? AND on_hand - reserved >= ?
       RETURNING 1
     ), r AS (
       INSERT INTO ${T.reservations} (tenant_id, id, warehouse_id, status, expires_at, created_by)
       SELECT ?, ?, ?, 'active', now() + make_interval(secs => ?), ? WHERE EXISTS (SELECT 1 FROM upd)
       RETURNING expires_at, created_at
     ), l AS (
       INSERT INTO ${T.reservationLines} (tenant_id, reservation_id, product_id, quantity) SELECT ?, ?, ?, ? FROM r
     ), a AS (
       INSERT INTO ${SCHEMA}.audit_events (tenant_id, actor_id, action, entity_type, entity_id, request_id, changes)
       SELECT ?, ?, 'reservation.create', 'reservation', ?, ?,
              jsonb_build_object('warehouse_id', ?::text, 'lines', jsonb_build_array(jsonb_build_object('product_id', ?::text, 'quantity', ?::bigint)),
                                 'expires_at', to_char(r.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
         FROM r
     )
     SELECT EXISTS (SELECT 1 FROM ${T.warehouses} WHERE tenant_id = ? AND id = ?) AS warehouse_exists,
            EXISTS (SELECT 1 FROM ${T.products} WHERE tenant_id = ? AND id = ?) AS product_exists,
            (SELECT expires_at FROM r) AS expires_at, (SELECT created_at FROM r) AS created_at`,
    [
      r.line.quantity,
      r.tenantId,
      r.line.product_id,
      r.warehouseId,
      r.line.quantity,
      r.tenantId,
      r.id,
      r.warehouseId,
      r.ttlSeconds,
      r.createdBy,
      r.tenantId,
      r.id,
      r.line.product_id,
      r.line.quantity,
      r.tenantId,
      r.createdBy,
      r.id,
      r.requestId,
      r.warehouseId,
      r.line.product_id,
      r.line.quantity,
      r.tenantId,
      r.warehouseId,
      r.tenantId,
      r.line.product_id,
    ],
  );
  const row = rows[0]!;
  const result = { warehouseExists: row.warehouse_exists, productExists: row.product_exists };
  if (!row.expires_at || !row.created_at) return result;
  return {
    ...result,
    row: {
      id: r.id,
      warehouse_id: r.warehouseId,
      status: 'active',
      lines: [r.line],
      expires_at: iso(row.expires_at),
      created_at: iso(row.created_at),
    },
  };
}

const SELECT_RESERVATION = `
  SELECT r.id, r.warehouse_id, r.expires_at, r.created_at,
         CASE WHEN r.status = 'active' AND r.expires_at <= now() THEN 'expired' ELSE r.status END AS status,
         COALESCE((SELECT json_agg(json_build_object('product_id', l.product_id, 'quantity', l.quantity) ORDER BY l.product_id)
                     FROM ${T.reservationLines} l WHERE l.tenant_id = r.tenant_id AND l.reservation_id = r.id), '[]') AS lines
    FROM ${T.reservations} r`;

/** A reservation with its lines (sorted by product id), or undefined. */
export async function findReservation(
  db: Db,
  tenantId: string,
  id: string,
): Promise<ReservationRow | undefined> {
  const rows = await query<RawReservation>(db, `${SELECT_RESERVATION} WHERE r.tenant_id = ? AND r.id = ?`, [
    tenantId,
    id,
  ]);
  return rows[0] && toRow(rows[0]);
}

/** The warehouse of a reservation (for existence and ABAC checks), or undefined. */
export async function findReservationWarehouse(
  db: Db,
  tenantId: string,
  id: string,
): Promise<string | undefined> {
  const rows = await query<{ warehouse_id: string }>(
    db,
    `SELECT warehouse_id FROM ${T.reservations} WHERE tenant_id = ? AND id = ?`,
    [tenantId, id],
  );
  return rows[0]?.warehouse_id;
}

/**
 * Moves an active, unexpired reservation to `status` with one conditional UPDATE (it locks the row; a
 * concurrent commit/release/sweep waits and then finds it no longer active).
 * @returns the lines (sorted by product id) when this call made the change, else undefined.
 */
export async function closeActive(
  db: Db,
  tenantId: string,
  id: string,
  status: 'committed' | 'released',
): Promise<{ row: ReservationRow } | undefined> {
  const changed = await execute(
    db,
    `UPDATE ${T.reservations} SET status = ?, closed_at = now()
      WHERE tenant_id = ? AND id = ? AND status = 'active' AND expires_at > now()`,
    [status, tenantId, id],
  );
  if (changed !== 1) return undefined;
  const row = await findReservation(db, tenantId, id);
  return row && { row };
}

// ----------------------------------------------------------------- expiry sweep (system role, cross-tenant)

export interface ExpiredReservation {
  tenant_id: string;
  id: string;
  warehouse_id: string;
  lines: ReservationLineRow[];
}

/**
 * Expires up to `limit` active reservations past `expires_at`, across tenants, and gives their quantities
 * back, in the caller's (system role) transaction. `SKIP LOCKED` + `status = 'active'` make each one expire
 * exactly once even with concurrent sweeps or a concurrent commit/release. Stock rows are locked in
 * (tenant, product, warehouse) order, like every other writer, before the one UPDATE that changes them.
 */
export async function expireDueBatch(db: Db, limit: number): Promise<ExpiredReservation[]> {
  const expired = await query<{ tenant_id: string; id: string; warehouse_id: string }>(
    db,
    `WITH due AS (
       SELECT tenant_id, id FROM ${T.reservations}
        WHERE status = 'active' AND expires_at <= now()
        ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED
     )
     UPDATE ${T.reservations} r SET status = 'expired', closed_at = now()
       FROM due WHERE r.tenant_id = due.tenant_id AND r.id = due.id AND r.status = 'active'
     RETURNING r.tenant_id, r.id, r.warehouse_id`,
    [limit],
  );
  if (expired.length === 0) return [];
  const lines = await query<{
    tenant_id: string;
    reservation_id: string;
    product_id: string;
    quantity: string;
  }>(
    db,
    `SELECT l.tenant_id, l.reservation_id, l.product_id, l.quantity
       FROM ${T.reservationLines} l
       JOIN unnest(?::uuid[], ?::uuid[]) AS e(t, r) ON l.tenant_id = e.t AND l.reservation_id = e.r
      ORDER BY l.tenant_id, l.product_id`,
    [expired.map((e) => e.tenant_id), expired.map((e) => e.id)],
  );
  const byReservation = new Map<string, ReservationLineRow[]>();
  const totals = new Map<string, { t: string; p: string; w: string; q: number }>();
  const warehouseOf = new Map(expired.map((e) => [`${e.tenant_id}/${e.id}`, e.warehouse_id]));
  for (const l of lines) {
    const rk = `${l.tenant_id}/${l.reservation_id}`;
    const list = byReservation.get(rk) ?? [];
    list.push({ product_id: l.product_id, quantity: num(l.quantity) });
    byReservation.set(rk, list);
    const w = warehouseOf.get(rk)!;
    const sk = `${l.tenant_id}/${l.product_id}/${w}`;
    const tot = totals.get(sk) ?? { t: l.tenant_id, p: l.product_id, w, q: 0 };
    tot.q += num(l.quantity);
    totals.set(sk, tot);
  }
  const t = [...totals.values()];
  const keys = [t.map((x) => x.t), t.map((x) => x.p), t.map((x) => x.w)];
  await query(
    db,
    `SELECT 1 FROM ${T.stock} s
       JOIN unnest(?::uuid[], ?::uuid[], ?::uuid[]) AS k(t, p, w)
         ON s.tenant_id = k.t AND s.product_id = k.p AND s.warehouse_id = k.w
      ORDER BY s.tenant_id, s.product_id, s.warehouse_id FOR UPDATE OF s`,
    keys,
  );
  await execute(
    db,
    `UPDATE ${T.stock} s SET reserved = s.reserved - k.q
       FROM unnest(?::uuid[], ?::uuid[], ?::uuid[], ?::bigint[]) AS k(t, p, w, q)
      WHERE s.tenant_id = k.t AND s.product_id = k.p AND s.warehouse_id = k.w`,
    [...keys, t.map((x) => x.q)],
  );
  return expired.map((e) => ({ ...e, lines: byReservation.get(`${e.tenant_id}/${e.id}`) ?? [] }));
}
