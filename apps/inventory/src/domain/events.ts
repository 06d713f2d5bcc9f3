import { writeAudit, type AuditEntityType } from '@kv/audit';
import { writeOutbox } from '@kv/outbox';
import type { TenantContext } from '@kv/tenant-context';
import type { Knex } from 'knex';
import { insertMovements, type NewMovement } from '../data/movements';
import { SCHEMA } from '../data/schema';
import { actorOf } from './guards';
import { movementValue } from './lines';

/** Outbox topic of stock movements (consumed by accounting through the worker). */
export const STOCK_MOVEMENT_TOPIC = 'inventory.stock_movement';

/**
 * Appends ledger rows and, in the same transaction, one outbox event per movement (event id = movement id)
 * in the agreed cross-service format. @returns each movement id with its timestamp.
 */
export async function recordMovements(
  trx: Knex.Transaction,
  ctx: TenantContext,
  movements: readonly NewMovement[],
): Promise<Map<string, string>> {
  const createdAt = await insertMovements(trx, ctx.tenantId, movements);
  await writeOutbox(
    trx,
    SCHEMA,
    movements.map((m) => ({
      id: m.id,
      tenantId: ctx.tenantId,
      topic: STOCK_MOVEMENT_TOPIC,
      payload: {
        movement_id: m.id,
        tenant_id: ctx.tenantId,
        type: m.type,
        product_id: m.productId,
        warehouse_id: m.warehouseId,
        quantity: m.quantity,
        unit_cost: m.unitCost,
        value: movementValue(m.quantity, m.unitCost),
        occurred_at: createdAt.get(m.id)!,
        reference: m.reference,
      },
    })),
  );
  return createdAt;
}

/** Writes one audit event for the current actor in the caller's transaction. */
export async function audit(
  trx: Knex.Transaction,
  ctx: TenantContext,
  action: string,
  entityType: AuditEntityType,
  entityId: string,
  changes: Record<string, unknown>,
): Promise<void> {
  await writeAudit(trx, SCHEMA, [
    {
      tenantId: ctx.tenantId,
      actorId: actorOf(ctx),
      action,
      entityType,
      entityId,
      requestId: ctx.requestId || null,
      changes,
    },
  ]);
}
