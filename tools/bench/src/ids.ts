/**
 * Deterministic ids of the rows the bench seeds in SQL, derived from the bench tenant number `n` so pgbench
 * scripts compute the same ids (see `pgbench/*.sql`): `<n in hex, 8>-<kind, 4>-4000-8000-<index, 12 digits>`,
 * a well-formed version-4 layout.
 */
const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad12 = (i: number) => String(i).padStart(12, '0');
const id = (n: number, kind: string, i: number) => `${hex8(n)}-${kind}-4000-8000-${pad12(i)}`;

/** SKU `sku` (1-based) of bench tenant `n`. SQL: `lpad(to_hex(n), 8, '0') || '-0001-4000-8000-' || lpad(sku::text, 12, '0')`. */
export const productId = (n: number, sku: number): string => id(n, '0001', sku);
/** Bench account `i` (1-based, code `B` + 5 digits) of tenant `n` (kind 0002). */
export const accountId = (n: number, i: number): string => id(n, '0002', i);
/**
 * Tenant id of a tenant seeded in SQL (scale tenants, the peer tenant) (kind 0003); the last group carries the
 * run id (6 hex digits), since tenant ids are unique on their own and a targeted database may keep old runs.
 */
export const sqlTenantId = (n: number, runId: string): string =>
  `${hex8(n)}-0003-4000-8000-${runId.padStart(12, '0')}`;
/** Its warehouse (kind 0004). */
export const sqlWarehouseId = (n: number): string => id(n, '0004', 1);
/** Its one user (kind 0005). */
export const sqlUserId = (n: number): string => id(n, '0005', 1);

/** SQL expression of {@link productId} for integer expressions `n` and `sku`. */
export const productIdSql = (n: string, sku: string): string =>
  `(lpad(to_hex(${n}), 8, '0') || '-0001-4000-8000-' || lpad((${sku})::text, 12, '0'))::uuid`;
/** SQL expression of {@link accountId}. */
export const accountIdSql = (n: string, i: string): string =>
  `(lpad(to_hex(${n}), 8, '0') || '-0002-4000-8000-' || lpad((${i})::text, 12, '0'))::uuid`;
/** SQL expressions of the SQL-seeded tenant, warehouse and user ids. */
export const sqlTenantIdSql = (n: string, runId: string): string =>
  `(lpad(to_hex(${n}), 8, '0') || '-0003-4000-8000-${runId.padStart(12, '0')}')::uuid`;
export const sqlWarehouseIdSql = (n: string): string =>
  `(lpad(to_hex(${n}), 8, '0') || '-0004-4000-8000-000000000001')::uuid`;
export const sqlUserIdSql = (n: string): string =>
  `(lpad(to_hex(${n}), 8, '0') || '-0005-4000-8000-000000000001')::uuid`;

/** Bench tenant numbers: main tenants 1..999, scale tenants from SCALE_BASE + 1, the peer tenant PEER_N. */
export const SCALE_BASE = 1000;
export const PEER_N = 900_000;
