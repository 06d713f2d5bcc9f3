import type { Tenant, TenantCreate } from '@kv/api-contract';
import { writeAudit } from '@kv/audit';
import { errors } from '@kv/errors';
import { withIdempotency, type IdempotentResult } from '@kv/idempotency';
import { PG, SCHEMA, T, isPgError } from '../data/schema';
import type { SystemDirectory } from '../data/system-directory';
import type { PasswordHasher } from './passwords';
import type { Actor, IdempotencyInput } from './users-service';

/** Tenant provisioning by the platform admin. */
export interface TenantsService {
  /**
   * Creates the tenant and its first `admin` in one transaction (with audit rows in both the new tenant and the
   * platform tenant, and the Idempotency-Key scoped to the platform tenant).
   * @throws AppError CONFLICT when the slug is taken; idempotency errors
   */
  create(actor: Actor, input: TenantCreate, idem: IdempotencyInput): Promise<IdempotentResult>;
}

/** Creates the tenants service; it runs through the system directory (the new tenant has no context yet). */
export function createTenantsService(options: {
  directory: SystemDirectory;
  passwords: PasswordHasher;
}): TenantsService {
  return {
    async create(actor, input, idem) {
      const passwordHash = await options.passwords.hash(input.admin.password);
      return options.directory.transaction((trx) =>
        withIdempotency(
          trx,
          {
            key: idem.key,
            tenantId: actor.tenantId,
            method: idem.method,
            path: idem.path,
            body: idem.rawBody,
          },
          { table: T.idempotencyKeys },
          async () => {
            let row: { tenant_id: string; slug: string; name: string; created_at: Date };
            try {
              [row] = (await trx(T.tenants)
                .insert({ slug: input.slug, name: input.name })
                .returning(['tenant_id', 'slug', 'name', 'created_at'])) as [typeof row];
            } catch (err) {
              if (isPgError(err, PG.uniqueViolation))
                throw errors.conflict('A tenant with this slug already exists.');
              throw err;
            }
            const [admin] = (await trx(T.users)
              .insert({
                tenant_id: row.tenant_id,
                email: input.admin.email,
                password_hash: passwordHash,
                roles: ['admin'],
              })
              .returning(['id'])) as [{ id: string }];
            const tenant: Tenant = {
              id: row.tenant_id,
              slug: row.slug,
              name: row.name,
              created_at: row.created_at.toISOString(),
            };
            const base = { actorId: actor.userId, requestId: actor.requestId };
            await writeAudit(trx, SCHEMA, [
              {
                ...base,
                tenantId: row.tenant_id,
                action: 'tenant.create',
                entityType: 'tenant',
                entityId: row.tenant_id,
                changes: { slug: row.slug, name: row.name },
              },
              {
                ...base,
                tenantId: row.tenant_id,
                action: 'user.create',
                entityType: 'user',
                entityId: admin.id,
                changes: { email: input.admin.email, roles: ['admin'] },
              },
              {
                ...base,
                tenantId: actor.tenantId,
                action: 'tenant.create',
                entityType: 'tenant',
                entityId: row.tenant_id,
                changes: { slug: row.slug, name: row.name },
              },
            ]);
            return { status: 201, body: tenant };
          },
        ),
      );
    },
  };
}
