import type Redis from 'ioredis';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';
import type { AccessClaims } from './tokens';

/**
 * Refresh sessions and revocations in Redis, shared by every gateway instance.
 *
 * Keys of one user share a hash tag (`{t:<tenant>:u:<user>}`), so every multi-key command and script works on
 * Redis Cluster too. Revocations (a logged-out access token, a revoked session, a disabled user) live only as
 * long as an access token can (the access TTL): older tokens are expired anyway. They are also appended to a
 * sorted log and published, so each instance keeps an in-process mirror and can still refuse tokens revoked
 * before a Redis outage while Redis is down.
 */
export interface SessionStore {
  /** Creates session `sessionId` whose current refresh step is `refreshJti`. @throws when Redis is down. */
  create(s: { tenantId: string; userId: string; sessionId: string; refreshJti: string }): Promise<void>;
  /**
   * Rotates a session from `presentedJti` to `nextJti` atomically. `reused`: the presented refresh token had
   * already been rotated (theft), so the whole session is now revoked. `missing`: no such live session.
   * @throws when Redis is down.
   */
  rotate(s: {
    tenantId: string;
    userId: string;
    sessionId: string;
    presentedJti: string;
    nextJti: string;
  }): Promise<'rotated' | 'reused' | 'missing'>;
  /** Revokes an access token (until it expires) and its session. @throws when Redis is down. */
  logout(claims: AccessClaims): Promise<void>;
  /** Revokes every session and token of a user (disabled). @throws when Redis is down. */
  revokeUser(tenantId: string, userId: string): Promise<void>;
  /** Bumps the user's identity version so every instance reloads roles/attributes. @throws when Redis is down. */
  bumpVersion(tenantId: string, userId: string): Promise<void>;
  /**
   * Per-request check. With Redis reachable it answers from Redis (`version` is the user's identity
   * version); with Redis down it answers from the local mirror (`degraded: true`, `version: null`).
   */
  check(claims: AccessClaims): Promise<{ revoked: boolean; version: string | null; degraded: boolean }>;
  /** Starts mirroring (subscribe + periodic sync). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface SessionStoreOptions {
  /** Command client (`enableOfflineQueue: false` and a command timeout, so a dead Redis fails fast). */
  redis: Redis;
  /** A second client used only to subscribe (a subscribed connection cannot run commands). */
  subscriber: Redis;
  /** Key prefix, e.g. `gw:`. */
  prefix: string;
  accessTtlS: number;
  refreshTtlS: number;
  logger: Logger;
  /** Full mirror resync interval in ms; default 5000. */
  syncIntervalMs?: number;
}

const ROTATE = `
local cur = redis.call('HGET', KEYS[1], 'cur')
if not cur then return 0 end
if cur ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[5])
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
  return -1
end
redis.call('HSET', KEYS[1], 'cur', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`;

const REVOKE_USER = `
local sids = redis.call('SMEMBERS', KEYS[1])
for _, sid in ipairs(sids) do redis.call('DEL', ARGV[1] .. sid) end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('INCR', KEYS[3])
return #sids`;

/** Creates the Redis session store. */
export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const { redis, subscriber, prefix, logger } = options;
  const accessMs = options.accessTtlS * 1000;
  const refreshMs = options.refreshTtlS * 1000;
  const logKey = `${prefix}rev:log`;
  const channel = `${prefix}rev:chan`;
  const tag = (tenantId: string, userId: string) => `${prefix}{t:${tenantId}:u:${userId}}`;
  const keys = (tenantId: string, userId: string) => {
    const t = tag(tenantId, userId);
    return {
      sessionPrefix: `${t}:sess:`,
      session: (sid: string) => `${t}:sess:${sid}`,
      sessions: `${t}:sessions`,
      revJti: (jti: string) => `${t}:rev:jti:${jti}`,
      revSid: (sid: string) => `${t}:rev:sid:${sid}`,
      revUser: `${t}:rev:usr`,
      version: `${t}:ver`,
    };
  };

  // In-process mirror of the revocation log. `jti:<id>` / `sid:<id>` → expiry (epoch ms); users → the latest
  // "not before" (tokens issued at or before it are revoked) and its expiry.
  const mirror = new Map<string, number>();
  const userNbf = new Map<string, { nbf: number; expiresAt: number }>();
  let timer: NodeJS.Timeout | undefined;

  const remember = (member: string, expiresAt: number) => {
    if (expiresAt <= Date.now()) return;
    if (member.startsWith('usr:')) {
      const [, userId, nbf] = member.split(':');
      const prev = userId ? userNbf.get(userId) : undefined;
      if (userId && nbf && (!prev || prev.nbf <= Number(nbf)))
        userNbf.set(userId, { nbf: Number(nbf), expiresAt });
    } else {
      mirror.set(member, expiresAt);
    }
  };

  async function publish(members: string[]): Promise<void> {
    const expiresAt = Date.now() + accessMs;
    for (const m of members) remember(m, expiresAt);
    try {
      const multi = redis.multi();
      for (const m of members) multi.zadd(logKey, expiresAt, m);
      multi.publish(channel, JSON.stringify({ members, expiresAt }));
      await multi.exec();
    } catch (err) {
      // The revocation itself is already in Redis; only other instances' outage mirrors miss it until resync.
      logger.warn('could not publish a revocation', errorFields(err));
    }
  }

  async function sync(): Promise<void> {
    const now = Date.now();
    await redis.zremrangebyscore(logKey, '-inf', now);
    const flat = await redis.zrangebyscore(logKey, now, '+inf', 'WITHSCORES');
    for (let i = 0; i + 1 < flat.length; i += 2) remember(flat[i]!, Number(flat[i + 1]));
    for (const [m, exp] of mirror) if (exp <= now) mirror.delete(m);
    for (const [u, v] of userNbf) if (v.expiresAt <= now) userNbf.delete(u);
  }

  function mirrorRevoked(claims: AccessClaims): boolean {
    const now = Date.now();
    const live = (m: string) => (mirror.get(m) ?? 0) > now;
    if (live(`jti:${claims.jti}`) || live(`sid:${claims.sid}`)) return true;
    const user = userNbf.get(claims.sub);
    return user !== undefined && user.expiresAt > now && claims.iat <= user.nbf;
  }

  subscriber.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    try {
      const parsed = JSON.parse(message) as { members?: unknown; expiresAt?: unknown };
      if (Array.isArray(parsed.members) && typeof parsed.expiresAt === 'number') {
        for (const m of parsed.members) if (typeof m === 'string') remember(m, parsed.expiresAt);
      }
    } catch {
      // not ours
    }
  });
  subscriber.on('ready', () => {
    sync().catch(() => undefined);
  });

  return {
    async create({ tenantId, userId, sessionId, refreshJti }) {
      const k = keys(tenantId, userId);
      await redis
        .multi()
        .hset(k.session(sessionId), 'cur', refreshJti, 'uid', userId, 'tid', tenantId)
        .pexpire(k.session(sessionId), refreshMs)
        .sadd(k.sessions, sessionId)
        .pexpire(k.sessions, refreshMs)
        .exec();
    },

    async rotate({ tenantId, userId, sessionId, presentedJti, nextJti }) {
      const k = keys(tenantId, userId);
      const result = (await redis.eval(
        ROTATE,
        3,
        k.session(sessionId),
        k.sessions,
        k.revSid(sessionId),
        presentedJti,
        nextJti,
        refreshMs,
        accessMs,
        sessionId,
      )) as number;
      if (result === -1) {
        await publish([`sid:${sessionId}`]);
        return 'reused';
      }
      return result === 1 ? 'rotated' : 'missing';
    },

    async logout(claims) {
      const k = keys(claims.tid, claims.sub);
      const ttl = Math.max(1000, claims.exp * 1000 - Date.now() + 5000);
      await redis
        .multi()
        .set(k.revJti(claims.jti), '1', 'PX', ttl)
        .set(k.revSid(claims.sid), '1', 'PX', accessMs)
        .del(k.session(claims.sid))
        .srem(k.sessions, claims.sid)
        .exec();
      await publish([`jti:${claims.jti}`, `sid:${claims.sid}`]);
    },

    async revokeUser(tenantId, userId) {
      const k = keys(tenantId, userId);
      const nbf = Math.floor(Date.now() / 1000);
      await redis.eval(
        REVOKE_USER,
        3,
        k.sessions,
        k.revUser,
        k.version,
        k.sessionPrefix,
        String(nbf),
        accessMs,
      );
      await publish([`usr:${userId}:${nbf}`]);
    },

    async bumpVersion(tenantId, userId) {
      await redis.incr(keys(tenantId, userId).version);
    },

    async check(claims) {
      const k = keys(claims.tid, claims.sub);
      try {
        const [jti, sid, nbf, version] = await redis.mget(
          k.revJti(claims.jti),
          k.revSid(claims.sid),
          k.revUser,
          k.version,
        );
        const revoked = jti !== null || sid !== null || (nbf !== null && claims.iat <= Number(nbf));
        return { revoked, version: version ?? '0', degraded: false };
      } catch {
        return { revoked: mirrorRevoked(claims), version: null, degraded: true };
      }
    },

    async start() {
      subscriber.subscribe(channel).catch((err: unknown) => {
        logger.warn('revocation mirror could not subscribe; will retry on reconnect', errorFields(err));
      });
      try {
        await sync();
      } catch (err) {
        logger.warn('revocation mirror could not sync at start; will retry', errorFields(err));
      }
      timer = setInterval(() => {
        sync().catch(() => undefined);
      }, options.syncIntervalMs ?? 5000);
      timer.unref();
    },

    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      try {
        await subscriber.unsubscribe(channel);
      } catch {
        // already gone
      }
    },
  };
}
