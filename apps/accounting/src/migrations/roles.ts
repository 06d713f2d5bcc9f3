/** Database roles the migrations grant to (the platform's `kv_app` and `kv_system` by default). */
export interface MigrationRoles {
  /** Request role: owns nothing, row-level security applies. */
  app: string;
  /** Cross-tenant role (BYPASSRLS) with narrow grants: outbox relay, idempotency key purge. */
  system: string;
}

/** The platform's role names. */
export const DEFAULT_ROLES: MigrationRoles = { app: 'kv_app', system: 'kv_system' };
