/** The gateway's PostgreSQL schema (identity and access management). */
export const SCHEMA = 'iam';
/** Role that serves requests: owns nothing, row-level security applies. */
export const APP_ROLE = 'kv_app';
/**
 * BYPASSRLS role with narrow grants, used only by {@link SystemDirectory} for the cross-tenant work the
 * contract names: login lookup by tenant slug + email, tenant provisioning and the platform admin bootstrap.
 */
export const SYSTEM_ROLE = 'kv_system';

/** Qualified table names. */
export const T = {
  tenants: `${SCHEMA}.tenants`,
  users: `${SCHEMA}.users`,
  idempotencyKeys: `${SCHEMA}.idempotency_keys`,
  auditEvents: `${SCHEMA}.audit_events`,
} as const;

/** PostgreSQL error codes the data layer maps. */
export const PG = { uniqueViolation: '23505' } as const;

/** True if `err` is a PostgreSQL error with `code`. */
export function isPgError(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
