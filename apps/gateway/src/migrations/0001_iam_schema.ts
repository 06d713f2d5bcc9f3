import type { Knex } from 'knex';
import { createAuditTable } from '@kv/audit';
import { createIdempotencyTable } from '@kv/idempotency';
import { enableTenantRls } from '@kv/tenant-context';
import { APP_ROLE, SCHEMA, SYSTEM_ROLE } from '../data/schema';

const S = SCHEMA;
const MS_NOW = `date_trunc('milliseconds', now())`;
/** Frozen copy of the contract's roles at the time of this migration (later roles come with a new migration). */
const ROLES = ['admin', 'inventory_manager', 'sales_clerk', 'accountant', 'auditor', 'viewer'];

/**
 * The `iam` schema: tenants, users (roles and ABAC attributes as columns), idempotency keys and audit events.
 * Every table leads its keys with `tenant_id` and has ENABLE+FORCE row-level security. `kv_app` serves
 * requests inside one tenant; `kv_system` gets only what login lookup, provisioning and the platform admin
 * bootstrap need.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.tenants (
      tenant_id uuid NOT NULL DEFAULT gen_random_uuid(),
      slug text NOT NULL,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      PRIMARY KEY (tenant_id),
      CONSTRAINT tenants_slug_unique UNIQUE (slug)
    )`);
  await enableTenantRls(knex, `${S}.tenants`);
  await knex.raw(`GRANT SELECT ON ${S}.tenants TO ${APP_ROLE}`);
  await knex.raw(`GRANT SELECT, INSERT ON ${S}.tenants TO ${SYSTEM_ROLE}`);

  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.users (
      tenant_id uuid NOT NULL REFERENCES ${S}.tenants (tenant_id),
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      email text NOT NULL,
      password_hash text NOT NULL,
      roles text[] NOT NULL DEFAULT '{}',
      warehouse_ids uuid[],
      approval_limit bigint,
      disabled boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      updated_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT users_roles_known CHECK (roles <@ ARRAY[${ROLES.map((r) => `'${r}'`).join(', ')}]::text[]),
      CONSTRAINT users_approval_limit_non_negative CHECK (approval_limit IS NULL OR approval_limit >= 0),
      CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 200)
    )`);
  // Emails are unique per tenant and compare case-insensitively.
  await knex.raw(
    `CREATE UNIQUE INDEX IF NOT EXISTS users_email_unique ON ${S}.users (tenant_id, lower(email))`,
  );
  await enableTenantRls(knex, `${S}.users`);
  await knex.raw(`GRANT SELECT, INSERT, UPDATE ON ${S}.users TO ${APP_ROLE}`);
  await knex.raw(`GRANT SELECT, INSERT ON ${S}.users TO ${SYSTEM_ROLE}`);
  await knex.raw(`GRANT UPDATE (password_hash, roles, disabled, updated_at) ON ${S}.users TO ${SYSTEM_ROLE}`);

  await createIdempotencyTable(knex, S, {
    appRole: APP_ROLE,
    systemRole: SYSTEM_ROLE,
    enableRls: enableTenantRls,
  });
  // Provisioning (system role) records its Idempotency-Key in the same transaction as the new tenant.
  await knex.raw(`GRANT INSERT, UPDATE ON ${S}.idempotency_keys TO ${SYSTEM_ROLE}`);

  await createAuditTable(knex, S, { appRole: APP_ROLE, enableRls: enableTenantRls });
  await knex.raw(`GRANT INSERT ON ${S}.audit_events TO ${SYSTEM_ROLE}`);
}
