import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError } from '@kv/errors';

/** ABAC attributes of a user (contract: `warehouse_ids`, `approval_limit`). */
export interface UserAttributes {
  warehouse_ids?: string[];
  approval_limit?: number;
}

/** The verified identity a request (or job) runs as. */
export interface TenantContext {
  tenantId: string;
  /** `null` for system actions (worker, sweeps). */
  userId: string | null;
  roles: string[];
  permissions: string[];
  attributes: UserAttributes;
  requestId: string;
  /** `user`: a person through the gateway; `service`: an internal caller (worker). */
  kind: 'user' | 'service';
}

/** Thrown when tenant-scoped work runs without a context: fail closed, never "all tenants". */
export class MissingTenantContextError extends AppError {
  constructor() {
    super('INTERNAL', 'No tenant context for tenant-scoped work.');
    this.name = 'AppError';
  }
}

const storage = new AsyncLocalStorage<TenantContext>();

/** Runs `fn` with `ctx` as the current tenant context. */
export function runWithContext<T>(ctx: TenantContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The current context, or `undefined`. */
export function currentContext(): TenantContext | undefined {
  return storage.getStore();
}

/**
 * The current context.
 * @throws MissingTenantContextError when there is none.
 */
export function requireContext(): TenantContext {
  const ctx = storage.getStore();
  if (!ctx) throw new MissingTenantContextError();
  return ctx;
}

/** True if the context holds `permission`. */
export function hasPermission(ctx: TenantContext, permission: string): boolean {
  return ctx.permissions.includes(permission);
}

/**
 * ABAC: may this identity change stock in `warehouseId`? Users without `warehouse_ids` may change any;
 * service identities always may.
 */
export function canChangeWarehouse(ctx: TenantContext, warehouseId: string): boolean {
  if (ctx.kind === 'service') return true;
  const allowed = ctx.attributes.warehouse_ids;
  return allowed === undefined || allowed.includes(warehouseId);
}
