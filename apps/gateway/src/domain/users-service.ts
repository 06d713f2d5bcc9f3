import type { Knex } from 'knex';
import { decodeCursor, encodeCursor, type User, type UserCreate, type UserPatch } from '@kv/api-contract';
import { writeAudit } from '@kv/audit';
import { errors } from '@kv/errors';
import { withIdempotency, type IdempotentResult } from '@kv/idempotency';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';
import { withTenantTransaction } from '@kv/tenant-context';
import { PG, SCHEMA, T, isPgError } from '../data/schema';
import { attributeColumns, toUser, usersRepo, type UserRow } from '../data/users-repo';
import type { IdentityResolver } from './identity';
import type { PasswordHasher } from './passwords';
import type { SessionStore } from './sessions';

/** Who is acting, and the request it comes from. */
export interface Actor {
  tenantId: string;
  userId: string;
  requestId: string;
}

/** The `Idempotency-Key` of a request with what it is scoped to. */
export interface IdempotencyInput {
  key: string | undefined;
  method: string;
  path: string;
  /** The body as received (compared as parsed JSON). */
  rawBody: unknown;
}

export interface UsersServiceOptions {
  /** `kv_app` pool. */
  knex: Knex;
  passwords: PasswordHasher;
  sessions: SessionStore;
  identity: IdentityResolver;
  logger: Logger;
}

/** User management inside the caller's tenant (`users:manage`). */
export interface UsersService {
  /** @throws AppError CONFLICT (email taken, case-insensitively), idempotency errors */
  create(actor: Actor, input: UserCreate, idem: IdempotencyInput): Promise<IdempotentResult>;
  list(
    actor: Actor,
    limit: number,
    cursor: string | undefined,
  ): Promise<{ data: User[]; next_cursor: string | null }>;
  /** @throws AppError NOT_FOUND */
  get(actor: Actor, id: string): Promise<User>;
  /** Applies the change and makes every instance see it at once (disable revokes all tokens). @throws NOT_FOUND */
  patch(actor: Actor, id: string, input: UserPatch): Promise<User>;
}

const sameSet = (a: readonly string[] | null, b: readonly string[] | null) =>
  (a === null) === (b === null) && [...(a ?? [])].sort().join() === [...(b ?? [])].sort().join();

/** Creates the users service. */
export function createUsersService(options: UsersServiceOptions): UsersService {
  const { knex, passwords, sessions, identity, logger } = options;
  const ctxOf = (a: Actor) => ({ tenantId: a.tenantId, userId: a.userId });

  return {
    async create(actor, input, idem) {
      const passwordHash = await passwords.hash(input.password);
      return withTenantTransaction(
        knex,
        (trx) =>
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
              let row: UserRow;
              try {
                row = await usersRepo.insert(trx, {
                  tenantId: actor.tenantId,
                  email: input.email,
                  passwordHash,
                  roles: input.roles,
                  ...(input.attributes ? { attributes: input.attributes } : {}),
                });
              } catch (err) {
                if (isPgError(err, PG.uniqueViolation))
                  throw errors.conflict('A user with this email already exists.');
                throw err;
              }
              const user = toUser(row);
              await writeAudit(trx, SCHEMA, [
                {
                  tenantId: actor.tenantId,
                  actorId: actor.userId,
                  action: 'user.create',
                  entityType: 'user',
                  entityId: user.id,
                  requestId: actor.requestId,
                  changes: { email: user.email, roles: user.roles, attributes: user.attributes },
                },
              ]);
              return { status: 201, body: user };
            },
          ),
        ctxOf(actor),
      );
    },

    async list(actor, limit, cursor) {
      const c = cursor ? decodeCursor(cursor) : undefined;
      const after =
        c && typeof c.e === 'string' && typeof c.id === 'string' ? { email: c.e, id: c.id } : undefined;
      const rows = await withTenantTransaction(
        knex,
        (trx) => usersRepo.list(trx, actor.tenantId, limit, after),
        ctxOf(actor),
        {
          readOnly: true,
        },
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        data: page.map((row) => toUser(row)),
        next_cursor: rows.length > limit && last ? encodeCursor({ e: last.email_key, id: last.id }) : null,
      };
    },

    async get(actor, id) {
      const row = await withTenantTransaction(
        knex,
        (trx) => usersRepo.get(trx, actor.tenantId, id),
        ctxOf(actor),
        {
          readOnly: true,
        },
      );
      if (!row) throw errors.notFound('user');
      return toUser(row);
    },

    async patch(actor, id, input) {
      const { before, after } = await withTenantTransaction(
        knex,
        async (trx) => {
          const current = await usersRepo.get(trx, actor.tenantId, id, true);
          if (!current) throw errors.notFound('user');
          const changes: Partial<Pick<UserRow, 'roles' | 'warehouse_ids' | 'approval_limit' | 'disabled'>> =
            {};
          if (input.roles && !sameSet(input.roles, current.roles)) changes.roles = input.roles;
          if (input.attributes) {
            const cols = attributeColumns(input.attributes);
            if (!sameSet(cols.warehouse_ids, current.warehouse_ids))
              changes.warehouse_ids = cols.warehouse_ids;
            const currentLimit = current.approval_limit === null ? null : Number(current.approval_limit);
            if (cols.approval_limit !== currentLimit) changes.approval_limit = cols.approval_limit;
          }
          if (input.disabled !== undefined && input.disabled !== current.disabled)
            changes.disabled = input.disabled;
          if (Object.keys(changes).length === 0) return { before: current, after: current };
          const updated = await usersRepo.update(trx, actor.tenantId, id, changes);
          const was = toUser(current);
          const now = toUser(updated);
          await writeAudit(trx, SCHEMA, [
            {
              tenantId: actor.tenantId,
              actorId: actor.userId,
              action:
                changes.disabled === true
                  ? 'user.disable'
                  : changes.disabled === false
                    ? 'user.enable'
                    : 'user.update',
              entityType: 'user',
              entityId: id,
              requestId: actor.requestId,
              changes: {
                before: { roles: was.roles, attributes: was.attributes, disabled: was.disabled },
                after: { roles: now.roles, attributes: now.attributes, disabled: now.disabled },
              },
            },
          ]);
          return { before: current, after: updated };
        },
        ctxOf(actor),
      );
      if (before !== after) {
        identity.invalidate(id);
        // After commit, so an instance that reloads on the new version reads the committed row.
        try {
          if (after.disabled && !before.disabled) await sessions.revokeUser(actor.tenantId, id);
          else await sessions.bumpVersion(actor.tenantId, id);
        } catch (err) {
          // Committed in PostgreSQL; other instances pick it up when their cached copy ages out (<= 30 s, 5 s while
          // Redis is down), and a disabled user cannot log in or refresh meanwhile.
          logger.warn('user change committed but not propagated through Redis', {
            user_id: id,
            ...errorFields(err),
          });
        }
      }
      return toUser(after);
    },
  };
}
