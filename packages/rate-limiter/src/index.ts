/**
 * @kv/rate-limiter core: stores, client-IP resolution and header formatting. No Express types here; the
 * middleware lives in `@kv/rate-limiter/express`.
 */
export {
  FallbackStore,
  type FallbackStateChange,
  type FallbackStoreOptions,
  type FallbackStoreStats,
  type RedisCallClient,
} from './fallback-store';
export { FixedWindowCounter, type WindowCount } from './fixed-window';
export {
  DEFAULT_WINDOW_MS,
  MemoryRateLimitStore,
  type HitSource,
  type MemoryRateLimitStoreOptions,
  type RateLimitHit,
  type RateLimitStore,
  type StoreInitOptions,
} from './store';
export { createTrustedProxies, normalizeIp, resolveClientIp, type TrustedProxies } from './client-ip';
export {
  isExceeded,
  pickTightest,
  retryAfterSeconds,
  secondsUntil,
  toRateLimitHeaders,
  type RateLimitResult,
} from './headers';
