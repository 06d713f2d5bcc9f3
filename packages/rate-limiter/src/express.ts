/**
 * Express glue of @kv/rate-limiter: limiter middleware built on express-rate-limit, presets for the API
 * contract's IP / login / user / tenant limits, and client-IP resolution behind trusted proxies.
 *
 * Limiters cooperate: each records its result for the response and rewrites the rate-limit headers from
 * the tightest result recorded so far, so the headers always describe the limit with the fewest requests
 * remaining, whatever order the limiters run in. A rejected request is passed on as
 * `AppError('RATE_LIMITED')` (429, `Retry-After`), so the app's error handler writes the problem+json.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError } from '@kv/errors';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  ipKeyGenerator,
  rateLimit,
  type Logger as ErlLogger,
  type RateLimitInfo,
  type Store as ErlStore,
} from 'express-rate-limit';
import { createTrustedProxies, resolveClientIp, type TrustedProxies } from './client-ip';
import {
  isExceeded,
  pickTightest,
  retryAfterSeconds,
  toRateLimitHeaders,
  type RateLimitResult,
} from './headers';
import { DEFAULT_WINDOW_MS, type RateLimitHit, type RateLimitStore } from './store';
import {
  assertFunction,
  assertInteger,
  assertMethod,
  assertName,
  assertObject,
  assertOptionalFunction,
} from './validate';

export type { RateLimitResult } from './headers';

/** Minimal logger (`@kv/logger`'s `Logger` fits). Receives express-rate-limit's configuration warnings. */
export interface LimiterLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * What a limiter counts a request under. A string is a global key (`203.0.113.7` → `ip:203.0.113.7`);
 * `{ tenant, id }` is a tenant-scoped key whose tenant becomes a Redis Cluster hash tag, so all of a
 * tenant's keys live in one slot (`{tenant}:user:id`, `{tenant}:tenant`). The limiter name is always part of
 * the key, so limiters sharing a store prefix never share counts.
 */
export type LimiterKey = string | { tenant: string; id?: string };

/** Options of {@link createLimiter}; validated once, at construction. */
export interface LimiterOptions {
  /** Policy name: in the Redis key, the `RateLimit` headers and the 429 detail. `/^[a-z][a-z0-9_-]{0,31}$/`. */
  name: string;
  /** Requests allowed per window per key, while Redis works (integer >= 1). */
  limit: number;
  /** Window length in ms (integer >= 1000). Default 60 000. Windows are fixed, starting at a key's first hit. */
  windowMs?: number;
  /** Where hits are counted: a {@link FallbackStore} (one per limiter; reuse throws). */
  store: RateLimitStore;
  /**
   * The key to count this request under, or `undefined` when this limit does not apply to it (the request
   * then passes untouched and uncounted). Read identities from what authentication verified (e.g.
   * `res.locals`), never from unverified headers. An exception here goes to `next(err)`.
   */
  key: (req: Request, res: Response) => LimiterKey | undefined;
  /** Gets express-rate-limit's misconfiguration warnings. Default: the console. */
  logger?: LimiterLogger;
  /**
   * Called synchronously for every counted request (wire it to e.g.
   * `rate_limit_decisions_total{limiter, outcome, source}`). `result.key` holds tenant/user ids or an IP:
   * log it if needed, never use it as a metric label. Exceptions are ignored.
   */
  onDecision?: (result: RateLimitResult, allowed: boolean) => void;
}

/** A limiter middleware and its settings. */
export interface Limiter extends RequestHandler {
  /** The policy name (`Function.name` stays the middleware's own). */
  readonly limiterName: string;
  /** Requests per window while Redis works. */
  readonly limit: number;
  /** Window length in ms. */
  readonly windowMs: number;
  /** The store it counts in (for `isDegraded()`/`stats()` when it is a `FallbackStore`). */
  readonly store: RateLimitStore;
}

interface Slot {
  key: string;
  hit?: RateLimitHit;
}

/**
 * Carries the request's slot from the middleware into the store adapter and the `limit` callback:
 * express-rate-limit hands the store only the key, and the fallback limit depends on where the store
 * counted this very hit. AsyncLocalStorage follows the awaits inside express-rate-limit, so concurrent
 * requests never see each other's slot.
 */
const slots = new AsyncLocalStorage<Slot>();
const usedStores = new WeakSet<RateLimitStore>();
const resultsByResponse = new WeakMap<Response, RateLimitResult[]>();

function currentSlot(): Slot {
  const slot = slots.getStore();
  if (!slot) throw new Error('rate limiter: async context lost between the middleware and its store');
  return slot;
}

function toStoreKey(name: string, key: LimiterKey): string {
  if (typeof key === 'string') return `${name}:${key}`;
  // Braces inside the tag would end it early and spread the tenant's keys over several slots.
  const tenant = key.tenant.replace(/[{}]/g, '_');
  return key.id === undefined ? `{${tenant}}:${name}` : `{${tenant}}:${name}:${key.id}`;
}

function toErlLogger(logger: LimiterLogger): ErlLogger {
  const fields = (error: unknown): Record<string, unknown> =>
    error instanceof Error
      ? { error: { name: error.name, message: error.message, code: (error as { code?: unknown }).code } }
      : { error: String(error) };
  return {
    warn: (error, message) => logger.warn(message ?? 'express-rate-limit warning', fields(error)),
    error: (error, message) => logger.error(message ?? 'express-rate-limit error', fields(error)),
  };
}

/** Every result recorded for this response so far, in the order the limiters ran. */
export function rateLimitResults(res: Response): readonly RateLimitResult[] {
  return resultsByResponse.get(res) ?? [];
}

function record(res: Response, result: RateLimitResult): Record<string, string> {
  let list = resultsByResponse.get(res);
  if (!list) {
    list = [];
    resultsByResponse.set(res, list);
  }
  list.push(result);
  const tightest = pickTightest(list) ?? result;
  const headers = toRateLimitHeaders(tightest);
  if (!res.headersSent) {
    // Only one Retry-After is meaningful: the exceeded limit's, set by the caller.
    res.removeHeader('Retry-After');
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  }
  return headers;
}

function rateLimitedError(result: RateLimitResult, headers: Record<string, string>): AppError {
  const retryAfter = retryAfterSeconds(result);
  const windowSeconds = Math.ceil(result.windowMs / 1000);
  return new AppError(
    'RATE_LIMITED',
    `Too many requests: the "${result.name}" limit of ${result.limit} per ${windowSeconds} s is used up. ` +
      `Retry in ${retryAfter} s.`,
    { headers: { ...headers, 'Retry-After': String(retryAfter) }, extra: { retry_after: retryAfter } },
  );
}

/**
 * A limiter middleware: counts each request under `key(req, res)` in `store` and, over the limit, calls
 * `next(AppError('RATE_LIMITED'))` (429 with `Retry-After` in seconds until the window resets, plus the
 * rate-limit headers). Under the limit it sets the IETF draft-8 `RateLimit-Policy`/`RateLimit` and the
 * legacy `X-RateLimit-Limit`/`-Remaining`/`-Reset` (epoch seconds) headers for the tightest limit applied
 * to this response so far, then calls `next()`.
 *
 * When the store counted the hit in its fallback (Redis down), the store's `fallbackLimit` applies instead
 * of `limit` and the headers show it. An error thrown by the store (not a Redis failure: those fall back)
 * goes to `next(err)`; express-rate-limit's `passOnStoreError` stays off, so nothing is ever let through
 * unlimited silently.
 *
 * Create limiters at start-up, not per request.
 * @throws TypeError when an option is invalid or the store is already used by another limiter.
 */
export function createLimiter(options: LimiterOptions): Limiter {
  assertObject('options', options);
  const name = assertName('name', options.name);
  const limit = assertInteger('limit', options.limit, 1);
  const windowMs = assertInteger('windowMs', options.windowMs ?? DEFAULT_WINDOW_MS, 1000, 2 ** 31 - 1);
  const { store, key, onDecision } = options;
  assertObject('store', store);
  assertMethod('store.increment', store, 'increment');
  assertFunction('key', key);
  assertOptionalFunction('onDecision', onDecision);
  if (options.logger !== undefined) {
    assertMethod('logger.warn', options.logger, 'warn');
    assertMethod('logger.error', options.logger, 'error');
  }
  if (usedStores.has(store))
    throw new TypeError(`limiter "${name}": this store is already used by another limiter`);
  usedStores.add(store);

  const erlStore: ErlStore = {
    prefix: store.prefix,
    localKeys: store.localKeys,
    init: (erlOptions) => store.init({ windowMs: erlOptions.windowMs }),
    increment: async (storeKey) => {
      const hit = await store.increment(storeKey);
      currentSlot().hit = hit;
      return hit;
    },
    decrement: (storeKey) => store.decrement(storeKey),
    resetKey: (storeKey) => store.resetKey(storeKey),
    get: (storeKey) => store.get(storeKey),
  };
  const requestPropertyName = `kvRateLimit_${name}`;
  const middleware = rateLimit({
    windowMs,
    limit: () =>
      currentSlot().hit?.source === 'fallback' && store.fallbackLimit !== undefined
        ? store.fallbackLimit
        : limit,
    store: erlStore,
    keyGenerator: () => currentSlot().key,
    identifier: name,
    requestPropertyName,
    // Headers are written by `record` from the tightest of all limits, never per limiter (the last
    // limiter's headers would win otherwise).
    standardHeaders: false,
    legacyHeaders: false,
    // Over the limit: hand control back; the callback below turns it into an AppError.
    handler: (_req, _res, next) => next(),
    // The store handles Redis failures itself (fallback limit); anything else it throws is a bug → 500.
    passOnStoreError: false,
    // Client IPs come from `clientIp` with explicit trusted proxies, not from Express's `trust proxy`.
    validate: { default: true, trustProxy: false, xForwardedForHeader: false },
    ...(options.logger ? { logger: toErlLogger(options.logger) } : {}),
  });

  const handler = (req: Request, res: Response, next: NextFunction): void => {
    let requestKey: LimiterKey | undefined;
    try {
      requestKey = key(req, res);
    } catch (error) {
      next(error);
      return;
    }
    if (requestKey === undefined) {
      next();
      return;
    }
    const slot: Slot = { key: toStoreKey(name, requestKey) };
    slots.run(slot, () => {
      void middleware(req, res, (error?: unknown) => {
        if (error !== undefined) {
          next(error);
          return;
        }
        const info = (req as unknown as Record<string, RateLimitInfo | undefined>)[requestPropertyName];
        if (!info || !slot.hit) {
          next();
          return;
        }
        const result: RateLimitResult = {
          name,
          limit: info.limit,
          used: info.used,
          remaining: info.remaining,
          resetTime: slot.hit.resetTime,
          windowMs,
          key: slot.key,
          source: slot.hit.source,
        };
        const exceeded = isExceeded(result);
        if (onDecision) {
          try {
            onDecision(result, !exceeded);
          } catch {
            // A broken metrics hook must not change the decision.
          }
        }
        const headers = record(res, result);
        if (!exceeded) {
          next();
          return;
        }
        const err = rateLimitedError(result, headers);
        if (!res.headersSent && err.headers) res.setHeader('Retry-After', err.headers['Retry-After'] ?? '1');
        next(err);
      });
    });
  };
  return Object.assign(handler, { limiterName: name, limit, windowMs, store });
}

const trustedCache = new WeakMap<readonly string[], TrustedProxies>();

function toTrusted(trustedProxies: readonly string[] | TrustedProxies): TrustedProxies {
  if (!Array.isArray(trustedProxies)) {
    const compiled = trustedProxies as TrustedProxies;
    assertMethod('trustedProxies.has', compiled, 'has');
    return compiled;
  }
  const list = trustedProxies as readonly string[];
  let compiled = trustedCache.get(list);
  if (!compiled) {
    compiled = createTrustedProxies(list);
    trustedCache.set(list, compiled);
  }
  return compiled;
}

/**
 * The client IP of `req`: its peer address, or, when the peer is a trusted proxy, the first untrusted
 * `X-Forwarded-For` entry from the right (see `resolveClientIp`). Ignores Express's `trust proxy`.
 * @param trustedProxies IPs/CIDRs (compiled once per array and cached) or a `createTrustedProxies` result.
 * @returns the normalized IP, or `undefined` when the connection has no peer address any more.
 * @throws TypeError for an invalid trusted-proxy entry.
 */
export function clientIp(
  req: Pick<Request, 'headers' | 'socket'>,
  trustedProxies: readonly string[] | TrustedProxies,
): string | undefined {
  return resolveClientIp(req.socket.remoteAddress, req.headers['x-forwarded-for'], toTrusted(trustedProxies));
}

/** Options shared by the presets. */
export interface PresetOptions {
  /** Requests per window per key (integer >= 1). */
  limit: number;
  /** Window in ms; default 60 000. */
  windowMs?: number;
  /** One store per limiter. */
  store: RateLimitStore;
  /** Requests this limit does not apply to (not counted, no headers from it). */
  skip?: (req: Request, res: Response) => boolean;
  /** Overrides the preset's policy name. */
  name?: string;
  /** See {@link LimiterOptions.logger}. */
  logger?: LimiterLogger;
  /** See {@link LimiterOptions.onDecision}. */
  onDecision?: (result: RateLimitResult, allowed: boolean) => void;
}

/** Options of {@link ipLimiter} and {@link loginLimiter}. */
export interface IpLimiterOptions extends PresetOptions {
  /** Proxies whose `X-Forwarded-For` is believed (e.g. the local nginx: `['127.0.0.1', '::1']`). */
  trustedProxies: readonly string[] | TrustedProxies;
  /**
   * IPv6 clients are counted per network of this prefix length (32..64), since one client usually holds a
   * whole /64 or more; `false` counts each address. Default 56 (express-rate-limit's default).
   */
  ipv6Subnet?: number | false;
}

/** The verified identity the user/tenant limits count by (e.g. from `res.locals` after authentication). */
export interface LimitIdentity {
  /** Tenant id (a uuid); becomes the Redis Cluster hash tag of the key. */
  tenantId: string;
  /** User id, unique within the tenant. */
  userId: string;
}

/** Options of {@link userLimiter}. */
export interface UserLimiterOptions extends PresetOptions {
  /** The verified identity, or `undefined` for unauthenticated requests (then the limit does not apply). */
  identity: (req: Request, res: Response) => LimitIdentity | undefined;
}

/** Options of {@link tenantLimiter}. */
export interface TenantLimiterOptions extends PresetOptions {
  /** The verified identity's tenant, or `undefined` for unauthenticated requests. */
  identity: (req: Request, res: Response) => Pick<LimitIdentity, 'tenantId'> | undefined;
}

function presetOptions(
  defaults: { name: string },
  options: PresetOptions,
  key: (req: Request, res: Response) => LimiterKey | undefined,
): LimiterOptions {
  assertObject('options', options);
  const { skip } = options;
  assertOptionalFunction('skip', skip);
  return {
    name: options.name ?? defaults.name,
    limit: options.limit,
    windowMs: options.windowMs,
    store: options.store,
    logger: options.logger,
    onDecision: options.onDecision,
    key: skip ? (req, res) => (skip(req, res) ? undefined : key(req, res)) : key,
  };
}

function ipKeyFunction(options: IpLimiterOptions): (req: Request) => string {
  assertObject('options', options);
  const trusted = toTrusted(options.trustedProxies);
  const subnet = options.ipv6Subnet ?? 56;
  if (subnet !== false) assertInteger('ipv6Subnet', subnet, 32, 64);
  return (req) => {
    const ip = clientIp(req, trusted);
    // No peer address means the connection is already gone; count it under one key rather than not at all.
    return ip === undefined ? 'unknown' : ipKeyGenerator(ip, subnet);
  };
}

/**
 * Per-client-IP limit (policy `ip`; the contract's 60/min for unauthenticated requests). Key
 * `ip:<client ip>`. Use `skip` to exempt authenticated requests and `POST /v1/auth/login` (which has its own
 * limit and must not also count here).
 * @throws TypeError for invalid options or trusted-proxy entries.
 */
export function ipLimiter(options: IpLimiterOptions): Limiter {
  return createLimiter(presetOptions({ name: 'ip' }, options, ipKeyFunction(options)));
}

/**
 * Per-client-IP limit for the login route (policy `login`; the contract's 10/min). Key `login:<client ip>`,
 * separate from the `ip` counter. Mount it on the login route only.
 * @throws TypeError for invalid options or trusted-proxy entries.
 */
export function loginLimiter(options: IpLimiterOptions): Limiter {
  return createLimiter(presetOptions({ name: 'login' }, options, ipKeyFunction(options)));
}

/**
 * Per-user limit (policy `user`; the contract's 600/min). Key `{tenantId}:user:<userId>`: the same user id
 * in two tenants never shares a counter. Does not apply when `identity` returns `undefined`.
 * @throws TypeError for invalid options.
 */
export function userLimiter(options: UserLimiterOptions): Limiter {
  assertObject('options', options);
  const { identity } = options;
  assertFunction('identity', identity);
  return createLimiter(
    presetOptions({ name: 'user' }, options, (req, res) => {
      const who = identity(req, res);
      return who ? { tenant: who.tenantId, id: who.userId } : undefined;
    }),
  );
}

/**
 * Per-tenant limit (policy `tenant`; the contract's 6,000/min). Key `{tenantId}:tenant`. Does not apply
 * when `identity` returns `undefined`.
 * @throws TypeError for invalid options.
 */
export function tenantLimiter(options: TenantLimiterOptions): Limiter {
  assertObject('options', options);
  const { identity } = options;
  assertFunction('identity', identity);
  return createLimiter(
    presetOptions({ name: 'tenant' }, options, (req, res) => {
      const who = identity(req, res);
      return who ? { tenant: who.tenantId } : undefined;
    }),
  );
}
