import type { Knex } from 'knex';
import type { User, UserAttributesInput } from '@kv/api-contract';
import { T } from './schema';

/** A user row as stored (the hash never leaves the data layer except for login). */
export interface UserRow {
  tenant_id: string;
  id: string;
  email: string;
  password_hash: string;
  roles: string[];
  warehouse_ids: string[] | null;
  approval_limit: string | number | null;
  disabled: boolean;
  created_at: Date;
  updated_at: Date;
}

/** The identity-relevant part of a user, plus the tenant's slug (to recognise platform admins). */
export interface IdentityRow {
  id: string;
  tenant_id: string;
  email: string;
  roles: string[];
  warehouse_ids: string[] | null;
  approval_limit: string | number | null;
  disabled: boolean;
  slug: string;
}

/** Attributes as the API shows them: only the restrictions that apply. */
export function toAttributes(row: Pick<UserRow, 'warehouse_ids' | 'approval_limit'>): UserAttributesInput {
  const out: UserAttributesInput = {};
  if (row.warehouse_ids !== null) out.warehouse_ids = row.warehouse_ids;
  if (row.approval_limit !== null) out.approval_limit = Number(row.approval_limit);
  return out;
}

/** The public shape of a user (never the password hash). */
export function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    roles: row.roles,
    attributes: toAttributes(row),
    disabled: row.disabled,
    created_at: row.created_at.toISOString(),
  };
}

/** Attribute columns for an insert/update. */
export function attributeColumns(
  a: UserAttributesInput | undefined,
): Pick<UserRow, 'warehouse_ids' | 'approval_limit'> {
  return {
    warehouse_ids: a?.warehouse_ids ? [...new Set(a.warehouse_ids.map((w) => w.toLowerCase()))] : null,
    approval_limit: a?.approval_limit ?? null,
  };
}

/**
 * Tenant-scoped user queries. Every function takes the caller's tenant transaction (`withTenantTransaction`
 * as `kv_app`), so row-level security confines it to that tenant.
 */
export const usersRepo = {
  async insert(
    trx: Knex.Transaction,
    u: {
      tenantId: string;
      email: string;
      passwordHash: string;
      roles: string[];
      attributes?: UserAttributesInput;
    },
  ): Promise<UserRow> {
    const [row] = (await trx(T.users)
      .insert({
        tenant_id: u.tenantId,
        email: u.email,
        password_hash: u.passwordHash,
        roles: u.roles,
        ...attributeColumns(u.attributes),
      })
      .returning('*')) as UserRow[];
    return row!;
  },

  async get(
    trx: Knex.Transaction,
    tenantId: string,
    id: string,
    forUpdate = false,
  ): Promise<UserRow | undefined> {
    const q = trx<UserRow>(T.users).where({ tenant_id: tenantId, id }).first();
    if (forUpdate) void q.forUpdate();
    return q;
  },

  async update(
    trx: Knex.Transaction,
    tenantId: string,
    id: string,
    changes: Partial<Pick<UserRow, 'roles' | 'warehouse_ids' | 'approval_limit' | 'disabled'>>,
  ): Promise<UserRow> {
    const [row] = (await trx(T.users)
      .where({ tenant_id: tenantId, id })
      .update({ ...changes, updated_at: trx.raw(`date_trunc('milliseconds', now())`) })
      .returning('*')) as UserRow[];
    return row!;
  },

  /**
   * Keyset page ordered by lower(email), id. `after` is the last row of the previous page (its `email_key`,
   * PostgreSQL's own lower-casing, so the cursor compares exactly as the index orders).
   */
  async list(
    trx: Knex.Transaction,
    tenantId: string,
    limit: number,
    after: { email: string; id: string } | undefined,
  ): Promise<(UserRow & { email_key: string })[]> {
    const q = trx<UserRow & { email_key: string }>(T.users)
      .select('*', trx.raw('lower(email) AS email_key'))
      .where({ tenant_id: tenantId })
      .orderByRaw('lower(email), id')
      .limit(limit + 1);
    if (after) void q.whereRaw('(lower(email), id) > (?, ?::uuid)', [after.email, after.id]);
    return q;
  },

  /** The identity of a user for the per-request check (roles, attributes, disabled, tenant slug). */
  async identity(trx: Knex.Transaction, tenantId: string, id: string): Promise<IdentityRow | undefined> {
    return trx(`${T.users} as u`)
      .join(`${T.tenants} as t`, 't.tenant_id', 'u.tenant_id')
      .where({ 'u.tenant_id': tenantId, 'u.id': id })
      .first<IdentityRow | undefined>(
        'u.id',
        'u.tenant_id',
        'u.email',
        'u.roles',
        'u.warehouse_ids',
        'u.approval_limit',
        'u.disabled',
        't.slug',
      );
  },
};
