import { BlockList, isIP } from 'node:net';

/** A compiled set of trusted proxy addresses; build it once with {@link createTrustedProxies}. */
export interface TrustedProxies {
  /** `true` when `ip` (IPv4, IPv6 or IPv4-mapped IPv6) is one of the trusted proxies. */
  has(ip: string): boolean;
  /** The entries it was built from. */
  readonly entries: readonly string[];
}

/**
 * Compiles trusted proxy entries: single addresses (`127.0.0.1`, `::1`, `::ffff:127.0.0.1`) or CIDR ranges
 * (`10.0.0.0/8`, `fd00::/8`). An IPv4 entry also matches its IPv4-mapped IPv6 form and the reverse.
 * An empty list trusts nobody (X-Forwarded-For is then always ignored).
 * @throws TypeError naming the first entry that is not an address or CIDR range.
 */
export function createTrustedProxies(entries: readonly string[]): TrustedProxies {
  const given: unknown = entries;
  if (!Array.isArray(given)) throw new TypeError('trustedProxies must be an array of IPs or CIDR ranges');
  const list = new BlockList();
  for (const raw of entries) {
    if (typeof raw !== 'string') throw new TypeError('trustedProxies entries must be strings');
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const address = normalizeIp(slash === -1 ? entry : entry.slice(0, slash));
    const family = isIP(address);
    if (family === 0)
      throw new TypeError(`trustedProxies: not an IP address or CIDR range: ${JSON.stringify(raw)}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash === -1) {
      list.addAddress(address, type);
      continue;
    }
    const bitsText = entry.slice(slash + 1);
    const bits = Number(bitsText);
    if (!/^\d{1,3}$/.test(bitsText) || bits > (family === 4 ? 32 : 128)) {
      throw new TypeError(`trustedProxies: bad prefix length in ${JSON.stringify(raw)}`);
    }
    list.addSubnet(address, bits, type);
  }
  const frozen: readonly string[] = Object.freeze(entries.slice());
  return {
    entries: frozen,
    has(ip: string): boolean {
      const address = normalizeIp(ip);
      const family = isIP(address);
      if (family === 0) return false;
      return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * Canonical text of an address as it appears in a socket or an X-Forwarded-For entry: trims, strips IPv6
 * brackets and ports (`[::1]:80` → `::1`, `203.0.113.7:5000` → `203.0.113.7`), unwraps IPv4-mapped IPv6
 * (`::ffff:127.0.0.1` → `127.0.0.1`), lowercases IPv6. Returns the input trimmed when it is not an address.
 */
export function normalizeIp(value: string): string {
  let ip = value.trim();
  if (ip.startsWith('[')) {
    const end = ip.indexOf(']');
    if (end > 0) ip = ip.slice(1, end);
  } else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(ip)) {
    ip = ip.slice(0, ip.lastIndexOf(':'));
  }
  const zone = ip.indexOf('%');
  if (zone !== -1 && isIP(ip) === 6) ip = ip.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped?.[1] && isIP(mapped[1]) === 4) return mapped[1];
  return isIP(ip) === 6 ? ip.toLowerCase() : ip;
}

/**
 * The client's IP address. The peer address (`remoteAddress`) is the client unless it is a trusted proxy;
 * then X-Forwarded-For is walked from the right (the entry the nearest proxy appended), skipping entries
 * that are themselves trusted proxies, and the first untrusted entry is the client. Entries left of it were
 * written by the client and are ignored, so a client cannot pick its own IP by sending the header.
 * If every entry is trusted the leftmost one is returned; if an entry is not an address the walk stops at
 * the last trusted hop before it.
 *
 * Pure: does not read Express's `trust proxy` setting.
 *
 * @param remoteAddress the socket's peer address (`req.socket.remoteAddress`); `undefined` when the
 *   connection is gone.
 * @param forwardedFor the `X-Forwarded-For` header value(s), comma-separated.
 * @returns the normalized client IP (see {@link normalizeIp}), or `undefined` without a peer address.
 */
export function resolveClientIp(
  remoteAddress: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trusted: TrustedProxies,
): string | undefined {
  if (remoteAddress === undefined || remoteAddress === '') return undefined;
  let client = normalizeIp(remoteAddress);
  if (!trusted.has(client) || forwardedFor === undefined) return client;
  const hops = (typeof forwardedFor === 'string' ? [forwardedFor] : forwardedFor)
    .join(',')
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i -= 1) {
    const hop = normalizeIp(hops[i] ?? '');
    if (isIP(hop) === 0) return client;
    client = hop;
    if (!trusted.has(client)) return client;
  }
  return client;
}
