const KEY_PATTERN = /^lock:\{([^{}:]+)\}((?::[^{}:]+)+)$/;

function checkSegment(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new TypeError(`${what} must be a non-empty string`);
  if (/[{}:]/.test(value))
    throw new TypeError(`${what} must not contain "{", "}" or ":" (got ${JSON.stringify(value)})`);
  return value;
}

/**
 * Builds a tenant-scoped lock key: `lockKey(tenantId, 'period-close', '2026-01')` →
 * `lock:{<tenantId>}:period-close:2026-01`.
 *
 * The tenant id is a Redis Cluster hash tag (`{...}`), so all of a tenant's locks live in one slot, and it
 * is part of the key, so two tenants' same-named locks never contend. For system-wide work (no single
 * tenant) use the platform's system tenant id `00000000-0000-0000-0000-000000000000`.
 *
 * @param tenantId the tenant the protected resource belongs to.
 * @param parts at least one segment naming the resource; the first one is the lock's low-cardinality
 *   `name` reported to metrics hooks (e.g. `period-close`).
 * @throws TypeError when `tenantId` or a part is empty or contains `{`, `}` or `:`, or no part is given.
 */
export function lockKey(tenantId: string, ...parts: string[]): string {
  checkSegment(tenantId, 'tenantId');
  if (parts.length === 0) throw new TypeError('lockKey needs at least one part after the tenant id');
  parts.forEach((p, i) => checkSegment(p, `lockKey part ${i}`));
  return `lock:{${tenantId}}:${parts.join(':')}`;
}

/** The parts of a key built by {@link lockKey}. */
export interface ParsedLockKey {
  tenantId: string;
  /** First part after the tenant: a low-cardinality label for metrics (`period-close`). */
  name: string;
  parts: string[];
}

/**
 * Parses a key built by {@link lockKey}.
 * @throws TypeError when `key` was not built by {@link lockKey} (locks must be tenant-scoped).
 */
export function parseLockKey(key: string): ParsedLockKey {
  const m = typeof key === 'string' ? KEY_PATTERN.exec(key) : null;
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw new TypeError(
      `lock key ${JSON.stringify(key)} is not tenant-scoped: build it with lockKey(tenantId, ...parts)`,
    );
  }
  const parts = m[2].slice(1).split(':');
  return { tenantId: m[1], name: parts[0] ?? '', parts };
}
