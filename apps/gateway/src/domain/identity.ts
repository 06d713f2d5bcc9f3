import type { Knex } from 'knex';
import {
  PLATFORM_ADMIN_ROLE,
  PLATFORM_TENANT_SLUG,
  permissionsOf,
  type UserAttributesInput,
} from '@kv/api-contract';
import { AppError } from '@kv/errors';
import { withTenantTransaction } from '@kv/tenant-context';
import { toAttributes, usersRepo } from '../data/users-repo';
import type { SessionStore } from './sessions';
import type { AccessClaims } from './tokens';

/** Who a verified access token belongs to, with the roles and attributes in force now. */
export interface ResolvedIdentity {
  tenantId: string;
  userId: string;
  email: string;
  /** Stored roles (without the derived platform admin role). */
  roles: string[];
  permissions: string[];
  attributes: UserAttributesInput;
  /** An `admin` of the `platform` tenant. */
  platformAdmin: boolean;
  /** True when Redis was down and revocation was checked against the local mirror. */
  degraded: boolean;
  /** Changes whenever the identity is (re)loaded: lets callers cache what they derive from it. */
  revision: string;
}

export interface IdentityResolverOptions {
  /** `kv_app` pool. */
  knex: Knex;
  sessions: SessionStore;
  /** Longest a cached identity is used while Redis confirms its version; default 30 s. */
  maxAgeMs?: number;
  /** Longest a cached identity is used while Redis is down (no version to compare); default 5 s. */
  degradedMaxAgeMs?: number;
  /** Most users cached per instance; default 10 000. */
  maxEntries?: number;
}

/** Resolves access-token claims into the user's current identity; refuses revoked tokens and disabled users. */
export interface IdentityResolver {
  /** @throws AppError UNAUTHENTICATED when revoked, disabled or unknown. */
  resolve(claims: AccessClaims): Promise<ResolvedIdentity>;
  /** Drops this instance's cached copy (after a local change). */
  invalidate(userId: string): void;
}

interface CacheEntry {
  version: string | null;
  loadedAt: number;
  identity: Omit<ResolvedIdentity, 'degraded' | 'revision'>;
  revision: string;
}

/**
 * Roles and attributes come from PostgreSQL (so a change applies promptly) and are cached per instance under
 * the user's version number in Redis, which every change bumps: one Redis round trip per request checks
 * revocation and cache freshness together.
 */
export function createIdentityResolver(options: IdentityResolverOptions): IdentityResolver {
  const cache = new Map<string, CacheEntry>();
  const maxAge = options.maxAgeMs ?? 30_000;
  const degradedMaxAge = options.degradedMaxAgeMs ?? 5_000;
  const maxEntries = options.maxEntries ?? 10_000;

  let loads = 0;
  const inFlight = new Map<string, Promise<CacheEntry['identity']>>();

  async function load(claims: AccessClaims): Promise<CacheEntry['identity']> {
    const row = await withTenantTransaction(
      options.knex,
      (trx) => usersRepo.identity(trx, claims.tid, claims.sub),
      { tenantId: claims.tid, userId: claims.sub },
      { readOnly: true },
    );
    if (!row || row.disabled)
      throw new AppError('UNAUTHENTICATED', 'The user is disabled or no longer exists.');
    const platformAdmin = row.slug === PLATFORM_TENANT_SLUG && row.roles.includes('admin');
    return {
      tenantId: row.tenant_id,
      userId: row.id,
      email: row.email,
      roles: row.roles,
      permissions: permissionsOf(row.roles),
      attributes: toAttributes(row),
      platformAdmin,
    };
  }

  return {
    async resolve(claims) {
      const state = await options.sessions.check(claims);
      if (state.revoked) throw new AppError('UNAUTHENTICATED', 'The token has been revoked.');
      const now = Date.now();
      const cached = cache.get(claims.sub);
      const fresh =
        cached !== undefined &&
        cached.identity.tenantId === claims.tid &&
        (state.degraded
          ? now - cached.loadedAt < degradedMaxAge
          : cached.version === state.version && now - cached.loadedAt < maxAge);
      if (fresh) return { ...cached.identity, degraded: state.degraded, revision: cached.revision };
      // Single flight: concurrent requests of one user share one database read.
      const key = `${claims.tid}:${claims.sub}:${state.version ?? '-'}`;
      let loading = inFlight.get(key);
      if (!loading) {
        loading = load(claims).finally(() => inFlight.delete(key));
        inFlight.set(key, loading);
      }
      const identity = await loading;
      if (cache.size >= maxEntries) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      let entry = cache.get(claims.sub);
      if (!entry || entry.identity !== identity) {
        loads += 1;
        entry = { version: state.version, loadedAt: now, identity, revision: `${now}.${loads}` };
        cache.delete(claims.sub);
        cache.set(claims.sub, entry);
      }
      const revision = entry.revision;
      return { ...identity, degraded: state.degraded, revision };
    },
    invalidate(userId) {
      cache.delete(userId);
    },
  };
}

/** The roles forwarded to services: stored roles plus {@link PLATFORM_ADMIN_ROLE} for platform admins. */
export function forwardedRoles(identity: Pick<ResolvedIdentity, 'roles' | 'platformAdmin'>): string[] {
  return identity.platformAdmin ? [...identity.roles, PLATFORM_ADMIN_ROLE] : identity.roles;
}
