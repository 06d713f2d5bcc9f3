/** The service's PostgreSQL schema. */
export const SCHEMA = 'inventory';
/** Role request traffic runs as (row-level security applies; owns nothing). */
export const APP_ROLE = 'kv_app';
/** BYPASSRLS role for the cross-tenant expiry sweep and the outbox relay; only narrow grants. */
export const SYSTEM_ROLE = 'kv_system';

/** Qualified table names. */
export const T = {
  warehouses: `${SCHEMA}.warehouses`,
  products: `${SCHEMA}.products`,
  stock: `${SCHEMA}.stock_levels`,
  reservations: `${SCHEMA}.reservations`,
  reservationLines: `${SCHEMA}.reservation_lines`,
  receipts: `${SCHEMA}.receipts`,
  adjustments: `${SCHEMA}.adjustments`,
  transfers: `${SCHEMA}.transfers`,
  movements: `${SCHEMA}.stock_movements`,
  idempotencyKeys: `${SCHEMA}.idempotency_keys`,
} as const;
