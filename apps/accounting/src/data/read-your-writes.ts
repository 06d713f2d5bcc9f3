import type { Redis } from 'ioredis';
import { maxLsn, type DbRouter } from '@kv/db-router';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';

/** Remembers, per tenant user, the primary's WAL position after their last write. */
export interface WritePositions {
  /** Call after a committed write of this user. Never throws. */
  recordWrite(tenantId: string, userId: string | null): Promise<void>;
  /** Where this user's next read may go. */
  readTargetFor(tenantId: string, userId: string | null): Promise<ReadTarget>;
}

/**
 * `any`: no write known, any healthy replica will do; `lsn`: a replica that has replayed past `lsn`;
 * `primary`: the position cannot be known (Redis down), so the read goes to the primary.
 */
export type ReadTarget = { kind: 'any' } | { kind: 'lsn'; lsn: string } | { kind: 'primary' };

/** Options of {@link createWritePositions}. */
export interface WritePositionsOptions {
  router: DbRouter;
  redis: Redis;
  /** Redis key prefix, e.g. `kv:accounting:`. */
  prefix: string;
  /** How long a position is kept, in s; replicas normally catch up in far less. Default 300. */
  ttlSeconds?: number;
  logger: Logger;
}

// Keeps the later of the stored and the new position (two writes of one user may finish out of order).
const SET_MAX_LSN = `
local cur = redis.call('GET', KEYS[1])
local function pos(l)
  local hi, lo = string.match(l, '^(%x+)/(%x+)$')
  return tonumber(hi, 16) * 4294967296 + tonumber(lo, 16)
end
if (not cur) or pos(ARGV[1]) > pos(cur) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1`;

/**
 * Read-your-writes across requests and instances: the position is kept in Redis, so a user's next read on any
 * instance goes to a replica only once it has replayed past that user's last write. Without replicas it does
 * nothing (every read goes to the primary anyway).
 */
export function createWritePositions(options: WritePositionsOptions, hasReplicas: boolean): WritePositions {
  if (!hasReplicas) {
    return { recordWrite: () => Promise.resolve(), readTargetFor: () => Promise.resolve({ kind: 'any' }) };
  }
  const ttl = options.ttlSeconds ?? 300;
  const key = (tenantId: string, userId: string | null) =>
    `${options.prefix}lsn:{${tenantId}}:${userId ?? 'service'}`;
  return {
    async recordWrite(tenantId, userId) {
      try {
        const lsn = await options.router.currentLsn();
        await options.redis.eval(SET_MAX_LSN, 1, key(tenantId, userId), lsn, String(ttl));
      } catch (err) {
        options.logger.warn(
          'could not record the write position; reads may go to the primary',
          errorFields(err),
        );
      }
    },
    async readTargetFor(tenantId, userId) {
      try {
        const lsn = maxLsn(await options.redis.get(key(tenantId, userId)));
        return lsn === undefined ? { kind: 'any' } : { kind: 'lsn', lsn };
      } catch {
        return { kind: 'primary' };
      }
    },
  };
}
