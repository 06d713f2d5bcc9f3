import type { Knex } from 'knex';
import { SYSTEM_ACCOUNTS } from '@kv/api-contract';
import { writeAudit } from '@kv/audit';
import { errors } from '@kv/errors';
import { accountIdsByCode, insertAccountsIfMissing } from '../data/accounts';
import type { UnitOfWork } from '../data/unit-of-work';

/** The platform's system-wide tenant id (no single tenant): never gets a chart of accounts. */
export const SYSTEM_TENANT_ID = '00000000-0000-0000-0000-000000000000';

/** Creates every tenant's system accounts the first time the tenant is seen, and caches their ids. */
export interface TenantBootstrap {
  /** Ensures the tenant's system accounts exist (idempotent; one small transaction per tenant and process). */
  ensure(tenantId: string): Promise<void>;
  /**
   * Ids of the system accounts by code, read in `trx`.
   * @throws AppError UNAVAILABLE if they are missing (ensure() has not run for this tenant).
   */
  systemAccountIds(trx: Knex.Transaction, tenantId: string): Promise<Map<string, string>>;
}

/** Most tenants remembered per process; the caches are only a shortcut (seeding is idempotent). */
const MAX_CACHED_TENANTS = 10_000;

/** Creates the bootstrap over a unit of work. */
export function createTenantBootstrap(uow: UnitOfWork): TenantBootstrap {
  const seeded = new Map<string, Promise<void>>();
  const ids = new Map<string, Map<string, string>>();
  return {
    ensure(tenantId) {
      if (tenantId === SYSTEM_TENANT_ID) return Promise.resolve();
      const known = seeded.get(tenantId);
      if (known) return known;
      if (seeded.size >= MAX_CACHED_TENANTS) seeded.clear();
      const pending = uow
        .write({ tenantId, userId: null }, async (trx) => {
          const created = await insertAccountsIfMissing(trx, tenantId, SYSTEM_ACCOUNTS, true);
          // A system action: no actor.
          await writeAudit(
            trx,
            'accounting',
            created.map((a) => ({
              tenantId,
              actorId: null,
              action: 'account.create',
              entityType: 'account' as const,
              entityId: a.id,
              requestId: null,
              changes: { code: a.code, name: a.name, type: a.type, system: true },
            })),
          );
        })
        .catch((err: unknown) => {
          seeded.delete(tenantId);
          throw err;
        });
      seeded.set(tenantId, pending);
      return pending;
    },
    async systemAccountIds(trx, tenantId) {
      const cached = ids.get(tenantId);
      if (cached) return cached;
      const found = await accountIdsByCode(
        trx,
        tenantId,
        SYSTEM_ACCOUNTS.map((a) => a.code),
      );
      if (found.size !== SYSTEM_ACCOUNTS.length) {
        throw errors.unavailable("The tenant's system accounts are not ready yet; retry later.");
      }
      if (ids.size >= MAX_CACHED_TENANTS) ids.clear();
      ids.set(tenantId, found);
      return found;
    },
  };
}
