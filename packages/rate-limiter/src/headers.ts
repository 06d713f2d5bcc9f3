import { createHash } from 'node:crypto';
import type { HitSource } from './store';

/** One limiter's verdict on one request. */
export interface RateLimitResult {
  /** Limiter (policy) name, e.g. `user`. */
  name: string;
  /** The limit that applied: the configured one, or the store's fallback limit when `source` is `fallback`. */
  limit: number;
  /** Hits counted in the window, this request included. */
  used: number;
  /** `max(limit - used, 0)`. */
  remaining: number;
  /** End of the window. */
  resetTime: Date;
  /** Window length in ms. */
  windowMs: number;
  /** The counted key without the store prefix, e.g. `{tenant}:user:id`. */
  key: string;
  source: HitSource;
}

/** `true` when the request that produced `result` is over its limit. */
export function isExceeded(result: RateLimitResult): boolean {
  return result.used > result.limit;
}

/**
 * The result the headers describe when several limits apply: the fewest requests remaining; on a tie an
 * exceeded limit first, then the one that resets last (the longest wait). `undefined` for an empty list.
 */
export function pickTightest(results: readonly RateLimitResult[]): RateLimitResult | undefined {
  let best: RateLimitResult | undefined;
  for (const r of results) {
    if (!best) {
      best = r;
      continue;
    }
    if (r.remaining !== best.remaining) {
      if (r.remaining < best.remaining) best = r;
      continue;
    }
    const exceeded = isExceeded(r);
    if (exceeded !== isExceeded(best)) {
      if (exceeded) best = r;
      continue;
    }
    if (r.resetTime.getTime() > best.resetTime.getTime()) best = r;
  }
  return best;
}

/** Whole seconds until `resetTime` (rounded up, >= 0). */
export function secondsUntil(resetTime: Date, now = Date.now()): number {
  return Math.max(0, Math.ceil((resetTime.getTime() - now) / 1000));
}

/** `Retry-After` for an exceeded result: seconds until its window resets, at least 1. */
export function retryAfterSeconds(result: RateLimitResult, now = Date.now()): number {
  return Math.max(1, secondsUntil(result.resetTime, now));
}

/** The draft-8 partition key: the same short, non-reversible tag express-rate-limit sends. */
function partitionKey(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex').slice(0, 12);
  return Buffer.from(hex).toString('base64');
}

/**
 * Rate-limit response headers for one result:
 * - IETF draft-8 (draft-ietf-httpapi-ratelimit-headers-08): `RateLimit-Policy: "user"; q=600; w=60; pk=:…:`
 *   and `RateLimit: "user"; r=599; t=42` (`t` = seconds until the window resets);
 * - legacy `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix epoch seconds of the
 *   reset, rounded up);
 * - `Retry-After` (seconds, >= 1) when the result is exceeded.
 */
export function toRateLimitHeaders(result: RateLimitResult, now = Date.now()): Record<string, string> {
  const windowSeconds = Math.max(1, Math.ceil(result.windowMs / 1000));
  const headers: Record<string, string> = {
    'RateLimit-Policy': `"${result.name}"; q=${result.limit}; w=${windowSeconds}; pk=:${partitionKey(result.key)}:`,
    RateLimit: `"${result.name}"; r=${result.remaining}; t=${secondsUntil(result.resetTime, now)}`,
    'X-RateLimit-Limit': String(result.limit),
    'X-RateLimit-Remaining': String(result.remaining),
    'X-RateLimit-Reset': String(Math.ceil(result.resetTime.getTime() / 1000)),
  };
  if (isExceeded(result)) headers['Retry-After'] = String(retryAfterSeconds(result, now));
  return headers;
}
