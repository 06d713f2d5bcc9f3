import {
  createTrustedProxies,
  FallbackStore,
  FixedWindowCounter,
  MemoryRateLimitStore,
  normalizeIp,
  pickTightest,
  resolveClientIp,
  retryAfterSeconds,
  toRateLimitHeaders,
  type RateLimitResult,
} from '../src';

const loopback = createTrustedProxies(['127.0.0.1', '::1', '10.0.0.0/8']);

describe('resolveClientIp', () => {
  it('returns the peer address when the peer is not a trusted proxy, ignoring X-Forwarded-For', () => {
    expect(resolveClientIp('203.0.113.9', '198.51.100.1', loopback)).toBe('203.0.113.9');
  });

  it('takes the rightmost X-Forwarded-For entry when the peer is a trusted proxy', () => {
    expect(resolveClientIp('127.0.0.1', '198.51.100.1', loopback)).toBe('198.51.100.1');
  });

  it('ignores entries a client wrote left of the one its proxy appended', () => {
    expect(resolveClientIp('127.0.0.1', '6.6.6.6, 1.1.1.1, 198.51.100.1', loopback)).toBe('198.51.100.1');
  });

  it('skips trusted hops from the right', () => {
    expect(resolveClientIp('127.0.0.1', '198.51.100.1, 10.1.2.3, 10.4.5.6', loopback)).toBe('198.51.100.1');
  });

  it('returns the leftmost entry when every hop is trusted', () => {
    expect(resolveClientIp('127.0.0.1', '10.1.1.1, 10.2.2.2', loopback)).toBe('10.1.1.1');
  });

  it('stops at the last trusted hop when an entry is not an address', () => {
    expect(resolveClientIp('127.0.0.1', '198.51.100.1, garbage', loopback)).toBe('127.0.0.1');
  });

  it('treats an IPv4-mapped IPv6 peer like its IPv4 address', () => {
    expect(resolveClientIp('::ffff:127.0.0.1', '198.51.100.1', loopback)).toBe('198.51.100.1');
    expect(resolveClientIp('::ffff:203.0.113.9', '198.51.100.1', loopback)).toBe('203.0.113.9');
  });

  it('joins repeated header lines and strips ports and brackets', () => {
    expect(resolveClientIp('::1', ['198.51.100.1:5555', '[2001:DB8::1]:443'], loopback)).toBe('2001:db8::1');
  });

  it('returns the peer when there is no X-Forwarded-For and undefined without a peer', () => {
    expect(resolveClientIp('127.0.0.1', undefined, loopback)).toBe('127.0.0.1');
    expect(resolveClientIp(undefined, '198.51.100.1', loopback)).toBeUndefined();
  });

  it('trusts nobody with an empty list', () => {
    expect(resolveClientIp('127.0.0.1', '198.51.100.1', createTrustedProxies([]))).toBe('127.0.0.1');
  });
});

describe('createTrustedProxies', () => {
  it('matches addresses, CIDR ranges and IPv4-mapped forms', () => {
    const t = createTrustedProxies(['::ffff:127.0.0.1', '192.168.0.0/16', 'fd00::/8']);
    expect(t.has('127.0.0.1')).toBe(true);
    expect(t.has('::ffff:192.168.3.4')).toBe(true);
    expect(t.has('fd12::1')).toBe(true);
    expect(t.has('192.169.0.1')).toBe(false);
    expect(t.has('not-an-ip')).toBe(false);
  });

  it('rejects entries that are not addresses or ranges at construction', () => {
    expect(() => createTrustedProxies(['localhost'])).toThrow(/localhost/);
    expect(() => createTrustedProxies(['10.0.0.0/33'])).toThrow(/prefix length/);
    expect(() => createTrustedProxies('127.0.0.1' as unknown as string[])).toThrow(TypeError);
  });
});

describe('normalizeIp', () => {
  it('canonicalizes peer and header forms', () => {
    expect(normalizeIp(' ::FFFF:10.0.0.1 ')).toBe('10.0.0.1');
    expect(normalizeIp('203.0.113.7:8080')).toBe('203.0.113.7');
    expect(normalizeIp('[::1]')).toBe('::1');
  });
});

function result(over: Partial<RateLimitResult>): RateLimitResult {
  return {
    name: 'x',
    limit: 10,
    used: 1,
    remaining: 9,
    resetTime: new Date(1_700_000_030_000),
    windowMs: 60_000,
    key: 'x:k',
    source: 'primary',
    ...over,
  };
}

describe('pickTightest', () => {
  it('picks the result with the fewest requests remaining', () => {
    const user = result({ name: 'user', remaining: 3 });
    const tenant = result({ name: 'tenant', remaining: 7 });
    expect(pickTightest([tenant, user])?.name).toBe('user');
    expect(pickTightest([user, tenant])?.name).toBe('user');
    expect(pickTightest([])).toBeUndefined();
  });

  it('prefers an exceeded limit on a tie at zero, then the later reset', () => {
    const full = result({ name: 'user', limit: 3, used: 3, remaining: 0 });
    const over = result({ name: 'tenant', limit: 5, used: 6, remaining: 0 });
    expect(pickTightest([over, full])?.name).toBe('tenant');
    expect(pickTightest([full, over])?.name).toBe('tenant');
    const early = result({ name: 'a', remaining: 2, resetTime: new Date(1_000) });
    const late = result({ name: 'b', remaining: 2, resetTime: new Date(2_000) });
    expect(pickTightest([early, late])?.name).toBe('b');
  });
});

describe('toRateLimitHeaders', () => {
  const now = 1_700_000_000_000;

  it('writes draft-8 and legacy headers with the reset as epoch seconds', () => {
    const h = toRateLimitHeaders(result({ name: 'user', limit: 600, used: 2, remaining: 598 }), now);
    expect(h['RateLimit-Policy']).toMatch(/^"user"; q=600; w=60; pk=:[A-Za-z0-9+/=]+:$/);
    expect(h.RateLimit).toBe('"user"; r=598; t=30');
    expect(h['X-RateLimit-Limit']).toBe('600');
    expect(h['X-RateLimit-Remaining']).toBe('598');
    expect(h['X-RateLimit-Reset']).toBe('1700000030');
    expect(h['Retry-After']).toBeUndefined();
  });

  it('adds Retry-After (at least 1 s) when the limit is exceeded', () => {
    const over = result({ limit: 2, used: 3, remaining: 0, resetTime: new Date(now + 1_200) });
    expect(toRateLimitHeaders(over, now)['Retry-After']).toBe('2');
    expect(retryAfterSeconds(result({ used: 11, remaining: 0, resetTime: new Date(now - 5) }), now)).toBe(1);
  });
});

describe('FixedWindowCounter', () => {
  it('counts a fixed window that starts at the first hit and restarts after it', () => {
    const c = new FixedWindowCounter(1_000, 0);
    expect(c.hit('k', 100)).toEqual({ totalHits: 1, resetTime: new Date(1_100) });
    expect(c.hit('k', 1_099).totalHits).toBe(2);
    expect(c.peek('k', 1_099)?.totalHits).toBe(2);
    expect(c.hit('k', 1_100)).toEqual({ totalHits: 1, resetTime: new Date(2_100) });
    c.decrement('k', 1_200);
    expect(c.peek('k', 1_200)).toEqual({ totalHits: 0, resetTime: new Date(2_100) });
  });

  it('forgets idle keys after two windows', () => {
    const c = new FixedWindowCounter(1_000, 0);
    c.hit('a', 0);
    c.hit('b', 500);
    c.hit('b', 1_200);
    expect(c.size).toBe(2);
    c.hit('c', 3_500);
    expect(c.size).toBe(1);
    expect(c.peek('a', 3_500)).toBeUndefined();
  });
});

describe('option validation', () => {
  const redis = { call: () => Promise.resolve('OK') };

  it('FallbackStore rejects a missing or invalid fallback limit, prefix or client', () => {
    expect(() => new FallbackStore({ redis, fallbackLimit: 0 })).toThrow(/fallbackLimit/);
    expect(() => new FallbackStore({ redis, fallbackLimit: 1.5 })).toThrow(/fallbackLimit/);
    expect(() => new FallbackStore({ redis, fallbackLimit: 5, prefix: 'rl:{x}:' })).toThrow(/prefix/);
    expect(() => new FallbackStore({ redis: {} as typeof redis, fallbackLimit: 5 })).toThrow(/redis.call/);
    expect(() => new FallbackStore({ redis, fallbackLimit: 5, probeIntervalMs: -1 })).toThrow(
      /probeIntervalMs/,
    );
    expect(() => new FallbackStore({ redis, fallbackLimit: 5, onFallback: 1 as never })).toThrow(
      /onFallback/,
    );
  });

  it('stores refuse to count before init', async () => {
    await expect(new MemoryRateLimitStore().increment('k')).rejects.toThrow(/before init/);
    await expect(new FallbackStore({ redis, fallbackLimit: 5 }).increment('k')).rejects.toThrow(
      /before init/,
    );
  });
});
