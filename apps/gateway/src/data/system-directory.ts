import type { Knex } from 'knex';
import { T } from './schema';

/** What login needs about a user, found across tenants by slug + email. */
export interface LoginRecord {
  tenantId: string;
  userId: string;
  passwordHash: string;
  disabled: boolean;
  roles: string[];
}

/**
 * The only code that uses the `kv_system` role (BYPASSRLS, narrow grants). It does exactly the cross-tenant
 * work the contract names, never on behalf of an ordinary tenant request:
 * - {@link SystemDirectory.findLogin}: login lookup by tenant slug + email (no tenant is known yet);
 * - {@link SystemDirectory.transaction}: tenant provisioning by the platform admin (a new tenant has no
 *   context yet; its first admin, audit rows and the Idempotency-Key are written in one transaction);
 * - {@link SystemDirectory.ensurePlatformAdmin}: the platform admin bootstrap at start.
 */
export interface SystemDirectory {
  findLogin(slug: string, email: string): Promise<LoginRecord | undefined>;
  /** Runs `fn` in a transaction as the system role (provisioning only). */
  transaction<R>(fn: (trx: Knex.Transaction) => Promise<R>): Promise<R>;
  /**
   * Creates the `platform` tenant and its admin if missing; when `passwordHash` is given, (re)sets the
   * admin's password, re-enables it and makes sure it has the `admin` role. Safe when several instances
   * start at once. Returns ids and whether the admin was created now.
   */
  ensurePlatformAdmin(a: {
    slug: string;
    email: string;
    passwordHash: string;
    resetPassword: boolean;
  }): Promise<{ tenantId: string; userId: string; created: boolean }>;
}

/** Creates the directory over a `kv_system` pool. */
export function createSystemDirectory(system: Knex): SystemDirectory {
  return {
    async findLogin(slug, email) {
      const row = await system(`${T.tenants} as t`)
        .join(`${T.users} as u`, 'u.tenant_id', 't.tenant_id')
        .where('t.slug', slug)
        .whereRaw('lower(u.email) = lower(?)', [email])
        .first<
          | { tenant_id: string; id: string; password_hash: string; disabled: boolean; roles: string[] }
          | undefined
        >('t.tenant_id', 'u.id', 'u.password_hash', 'u.disabled', 'u.roles');
      return row
        ? {
            tenantId: row.tenant_id,
            userId: row.id,
            passwordHash: row.password_hash,
            disabled: row.disabled,
            roles: row.roles,
          }
        : undefined;
    },

    transaction: (fn) => system.transaction(fn),

    async ensurePlatformAdmin({ slug, email, passwordHash, resetPassword }) {
      return system.transaction(async (trx) => {
        await trx(T.tenants).insert({ slug, name: 'Platform' }).onConflict('slug').ignore();
        const tenant = await trx(T.tenants).where({ slug }).first<{ tenant_id: string }>('tenant_id');
        const inserted = await trx.raw<{ rows: { id: string }[] }>(
          `INSERT INTO ${T.users} (tenant_id, email, password_hash, roles)
           VALUES (?, ?, ?, ARRAY['admin']::text[])
           ON CONFLICT (tenant_id, lower(email)) DO NOTHING
           RETURNING id`,
          [tenant.tenant_id, email, passwordHash],
        );
        const created = inserted.rows[0];
        if (created) {
          await trx(T.auditEvents).insert({
            tenant_id: tenant.tenant_id,
            actor_id: null,
            action: 'user.create',
            entity_type: 'user',
            entity_id: created.id,
            request_id: null,
            changes: JSON.stringify({ email, roles: ['admin'], reason: 'platform admin bootstrap' }),
          });
          return { tenantId: tenant.tenant_id, userId: created.id, created: true };
        }
        const existing = await trx(T.users)
          .where({ tenant_id: tenant.tenant_id })
          .whereRaw('lower(email) = lower(?)', [email])
          .first<{ id: string }>('id');
        if (resetPassword) {
          await trx.raw(
            `UPDATE ${T.users}
             SET password_hash = ?, disabled = false,
                 roles = CASE WHEN 'admin' = ANY(roles) THEN roles ELSE array_append(roles, 'admin') END,
                 updated_at = date_trunc('milliseconds', now())
             WHERE tenant_id = ? AND id = ?`,
            [passwordHash, tenant.tenant_id, existing.id],
          );
        }
        return { tenantId: tenant.tenant_id, userId: existing.id, created: false };
      });
    },
  };
}
