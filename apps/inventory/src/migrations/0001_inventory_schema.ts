import type { Knex } from 'knex';
import { createAuditTable } from '@kv/audit';
import { createIdempotencyTable } from '@kv/idempotency';
import { createOutboxTable } from '@kv/outbox';
import { enableTenantRls } from '@kv/tenant-context';
import { APP_ROLE, SCHEMA, SYSTEM_ROLE } from '../data/schema';

const S = SCHEMA;
const MS_NOW = `date_trunc('milliseconds', now())`;

/**
 * The inventory schema. Every table leads its keys with `tenant_id` and has ENABLE+FORCE row-level security.
 *
 * Foreign keys are kept where the parent is not hot (stock rows → product/warehouse, reservation lines →
 * their reservation). Reservations, lines and movements do not reference products or warehouses: every
 * reservation of a hot SKU would take a KEY SHARE lock on the same product row (multixact churn), and the
 * service checks existence in the same transaction; products and warehouses are never deleted (no grant).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.warehouses (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      code text NOT NULL,
      name text NOT NULL,
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT warehouses_code_unique UNIQUE (tenant_id, code)
    )`);
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.products (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      sku text NOT NULL,
      name text NOT NULL,
      unit text NOT NULL DEFAULT 'unit',
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT products_sku_unique UNIQUE (tenant_id, sku)
    )`);
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.stock_levels (
      tenant_id uuid NOT NULL,
      product_id uuid NOT NULL,
      warehouse_id uuid NOT NULL,
      on_hand bigint NOT NULL DEFAULT 0,
      reserved bigint NOT NULL DEFAULT 0,
      average_cost bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (tenant_id, product_id, warehouse_id),
      CONSTRAINT stock_on_hand_non_negative CHECK (on_hand >= 0),
      CONSTRAINT stock_reserved_within_on_hand CHECK (reserved >= 0 AND reserved <= on_hand),
      CONSTRAINT stock_average_cost_non_negative CHECK (average_cost >= 0),
      FOREIGN KEY (tenant_id, product_id) REFERENCES ${S}.products (tenant_id, id),
      FOREIGN KEY (tenant_id, warehouse_id) REFERENCES ${S}.warehouses (tenant_id, id)
    )`);
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS stock_levels_by_warehouse ON ${S}.stock_levels (tenant_id, warehouse_id, product_id)`,
  );

  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.reservations (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL DEFAULT gen_random_uuid(),
      warehouse_id uuid NOT NULL,
      status text NOT NULL DEFAULT 'active',
      expires_at timestamptz NOT NULL,
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      closed_at timestamptz,
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT reservations_status CHECK (status IN ('active', 'committed', 'released', 'expired')),
      CONSTRAINT reservations_closed_iff_not_active CHECK ((status = 'active') = (closed_at IS NULL))
    )`);
  // Cross-tenant on purpose: the expiry sweep (system role) scans due reservations of every tenant.
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS reservations_due ON ${S}.reservations (expires_at) WHERE status = 'active'`,
  );
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.reservation_lines (
      tenant_id uuid NOT NULL,
      reservation_id uuid NOT NULL,
      product_id uuid NOT NULL,
      quantity bigint NOT NULL CHECK (quantity > 0),
      PRIMARY KEY (tenant_id, reservation_id, product_id),
      FOREIGN KEY (tenant_id, reservation_id) REFERENCES ${S}.reservations (tenant_id, id)
    )`);

  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.receipts (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL,
      warehouse_id uuid NOT NULL,
      reference text,
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      PRIMARY KEY (tenant_id, id)
    )`);
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.adjustments (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL,
      warehouse_id uuid NOT NULL,
      product_id uuid NOT NULL,
      quantity_delta bigint NOT NULL CHECK (quantity_delta <> 0),
      reason text NOT NULL,
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      PRIMARY KEY (tenant_id, id)
    )`);
  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.transfers (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL,
      from_warehouse_id uuid NOT NULL,
      to_warehouse_id uuid NOT NULL,
      reference text,
      created_by uuid,
      created_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      PRIMARY KEY (tenant_id, id),
      CHECK (from_warehouse_id <> to_warehouse_id)
    )`);

  await knex.raw(`
    CREATE TABLE IF NOT EXISTS ${S}.stock_movements (
      tenant_id uuid NOT NULL,
      id uuid NOT NULL,
      type text NOT NULL,
      product_id uuid NOT NULL,
      warehouse_id uuid NOT NULL,
      quantity bigint NOT NULL,
      unit_cost bigint NOT NULL CHECK (unit_cost >= 0),
      reference text,
      document_type text NOT NULL CHECK (document_type IN ('receipt', 'reservation', 'adjustment', 'transfer')),
      document_id uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT ${MS_NOW},
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT stock_movements_sign CHECK (
        (type IN ('receipt', 'transfer_in') AND quantity > 0) OR
        (type IN ('shipment', 'transfer_out') AND quantity < 0) OR
        (type = 'adjustment' AND quantity <> 0))
    )`);
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS stock_movements_by_product ON ${S}.stock_movements (tenant_id, product_id, warehouse_id, created_at DESC, id DESC)`,
  );
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS stock_movements_by_warehouse ON ${S}.stock_movements (tenant_id, warehouse_id, created_at DESC, id DESC)`,
  );
  await knex.raw(
    `CREATE INDEX IF NOT EXISTS stock_movements_by_time ON ${S}.stock_movements (tenant_id, created_at DESC, id DESC)`,
  );
  await knex.raw(`
    CREATE OR REPLACE FUNCTION ${S}.stock_movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'stock movements are append-only'; END $$`);
  await knex.raw(`DROP TRIGGER IF EXISTS stock_movements_append_only ON ${S}.stock_movements`);
  await knex.raw(
    `CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON ${S}.stock_movements FOR EACH ROW EXECUTE FUNCTION ${S}.stock_movements_append_only()`,
  );

  for (const table of [
    'warehouses',
    'products',
    'stock_levels',
    'reservations',
    'reservation_lines',
    'receipts',
    'adjustments',
    'transfers',
    'stock_movements',
  ]) {
    await enableTenantRls(knex, `${S}.${table}`);
  }

  await createIdempotencyTable(knex, S, {
    appRole: APP_ROLE,
    systemRole: SYSTEM_ROLE,
    enableRls: enableTenantRls,
  });
  await createOutboxTable(knex, S, {
    appRole: APP_ROLE,
    systemRole: SYSTEM_ROLE,
    enableRls: enableTenantRls,
  });
  await createAuditTable(knex, S, { appRole: APP_ROLE, enableRls: enableTenantRls });

  // Request traffic: insert documents, move quantities; nothing is ever deleted, and only the columns that
  // change may be updated.
  await knex.raw(`GRANT SELECT, INSERT ON ${S}.warehouses, ${S}.products, ${S}.reservation_lines, ${S}.receipts,
    ${S}.adjustments, ${S}.transfers, ${S}.stock_movements TO ${APP_ROLE}`);
  await knex.raw(`GRANT SELECT, INSERT ON ${S}.stock_levels, ${S}.reservations TO ${APP_ROLE}`);
  await knex.raw(`GRANT UPDATE (on_hand, reserved, average_cost) ON ${S}.stock_levels TO ${APP_ROLE}`);
  await knex.raw(`GRANT UPDATE (status, closed_at) ON ${S}.reservations TO ${APP_ROLE}`);

  // Expiry sweep (cross-tenant): find due reservations, expire them, give their quantities back, audit it.
  await knex.raw(
    `GRANT SELECT ON ${S}.reservations, ${S}.reservation_lines, ${S}.stock_levels TO ${SYSTEM_ROLE}`,
  );
  await knex.raw(`GRANT UPDATE (status, closed_at) ON ${S}.reservations TO ${SYSTEM_ROLE}`);
  await knex.raw(`GRANT UPDATE (reserved) ON ${S}.stock_levels TO ${SYSTEM_ROLE}`);
  await knex.raw(`GRANT INSERT ON ${S}.audit_events TO ${SYSTEM_ROLE}`);
}
