import { createPrivateKey, createPublicKey, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import jwt, { type Algorithm, type JwtPayload } from 'jsonwebtoken';
import { AppError } from '@kv/errors';

/** How tokens are signed: HS256 with a shared secret (default) or RS256 with a key pair. */
export type SigningKeys =
  { algorithm: 'HS256'; secret: string } | { algorithm: 'RS256'; privateKey: string; publicKey: string };

export interface TokenServiceOptions {
  keys: SigningKeys;
  /** `iss` claim; default `kv-erp`. */
  issuer?: string;
  /** `aud` claim; default `kv-erp-api`. */
  audience?: string;
  /** Access token lifetime in seconds (contract: at most 900). */
  accessTtlS: number;
  /** Refresh token lifetime in seconds. */
  refreshTtlS: number;
  /** Allowed clock skew in seconds when verifying; default 5. */
  clockToleranceS?: number;
  /**
   * Verified access tokens remembered per instance (exact token text → claims), so a client's repeated
   * requests skip the HMAC and JSON parsing; `exp` is still checked on every use. Default 10 000; 0 disables.
   */
  verifiedCacheSize?: number;
}

/** Verified claims of an access token. */
export interface AccessClaims {
  typ: 'access';
  /** User id. */
  sub: string;
  /** Tenant id. */
  tid: string;
  /** Refresh session the token belongs to. */
  sid: string;
  jti: string;
  /** Issued at / expires, Unix seconds. */
  iat: number;
  exp: number;
}

/** Verified claims of a refresh token. `jti` identifies this rotation step of the session. */
export interface RefreshClaims {
  typ: 'refresh';
  sub: string;
  tid: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  access: AccessClaims;
  refresh: RefreshClaims;
}

/** Signs and verifies the public API's JWTs. */
export interface TokenService {
  readonly accessTtlS: number;
  readonly refreshTtlS: number;
  /** Issues an access and a refresh token for one session step. */
  issue(subject: { userId: string; tenantId: string; sessionId: string }): IssuedTokens;
  /**
   * Verifies an access token: algorithm (never `none`), signature, `iss`, `aud`, `exp`, `typ: access`.
   * @throws AppError UNAUTHENTICATED
   */
  verifyAccess(token: string): AccessClaims;
  /** Same checks for a refresh token (`typ: refresh`). @throws AppError UNAUTHENTICATED */
  verifyRefresh(token: string): RefreshClaims;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Creates the token service. Options are validated once here. @throws Error on unusable keys. */
export function createTokenService(options: TokenServiceOptions): TokenService {
  const issuer = options.issuer ?? 'kv-erp';
  const audience = options.audience ?? 'kv-erp-api';
  const algorithm: Algorithm = options.keys.algorithm;
  if (options.keys.algorithm === 'HS256' && options.keys.secret.length < 32) {
    throw new Error('JWT secret must be at least 32 characters');
  }
  // KeyObjects made once: given strings, jsonwebtoken re-parses the key (and throws and catches while
  // guessing its type) on every sign and verify, which costs more than the HMAC itself.
  let signKey: KeyObject;
  let verifyKey: KeyObject;
  if (options.keys.algorithm === 'HS256') {
    signKey = verifyKey = createSecretKey(Buffer.from(options.keys.secret, 'utf8'));
  } else {
    signKey = createPrivateKey(options.keys.privateKey);
    verifyKey = createPublicKey(options.keys.publicKey);
  }
  const clockTolerance = options.clockToleranceS ?? 5;

  function sign(claims: Record<string, unknown>, ttl: number): string {
    return jwt.sign(claims, signKey, {
      algorithm,
      expiresIn: ttl,
      issuer,
      audience,
      header: { alg: algorithm, typ: 'JWT' },
    });
  }

  function verify(token: string, typ: 'access' | 'refresh'): JwtPayload {
    if (token.length > 8192) throw new AppError('UNAUTHENTICATED', 'Malformed token.');
    let payload: string | JwtPayload;
    try {
      // The algorithm list is ours, never the token's: `alg: none` and HS/RS confusion are refused.
      payload = jwt.verify(token, verifyKey, { algorithms: [algorithm], issuer, audience, clockTolerance });
    } catch (err) {
      const expired = err instanceof jwt.TokenExpiredError;
      throw new AppError('UNAUTHENTICATED', expired ? 'The token has expired.' : 'The token is invalid.', {
        cause: err,
      });
    }
    if (typeof payload === 'string' || payload.typ !== typ) {
      throw new AppError(
        'UNAUTHENTICATED',
        `This is not ${typ === 'access' ? 'an access' : 'a refresh'} token.`,
      );
    }
    for (const claim of ['sub', 'tid', 'sid', 'jti'] as const) {
      const v: unknown = payload[claim];
      if (typeof v !== 'string' || !UUID_RE.test(v))
        throw new AppError('UNAUTHENTICATED', 'The token is malformed.');
    }
    if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number') {
      throw new AppError('UNAUTHENTICATED', 'The token is malformed.');
    }
    return payload;
  }

  const cacheSize = options.verifiedCacheSize ?? 10_000;
  const verified = new Map<string, AccessClaims>();

  function verifyAccess(token: string): AccessClaims {
    const hit = verified.get(token);
    if (hit) {
      if (hit.exp + clockTolerance > Date.now() / 1000) return hit;
      verified.delete(token);
    }
    const claims = verify(token, 'access') as unknown as AccessClaims;
    if (cacheSize > 0) {
      if (verified.size >= cacheSize) {
        const oldest = verified.keys().next();
        if (!oldest.done) verified.delete(oldest.value);
      }
      verified.set(token, claims);
    }
    return claims;
  }

  return {
    accessTtlS: options.accessTtlS,
    refreshTtlS: options.refreshTtlS,
    issue({ userId, tenantId, sessionId }) {
      const now = Math.floor(Date.now() / 1000);
      const access: AccessClaims = {
        typ: 'access',
        sub: userId,
        tid: tenantId,
        sid: sessionId,
        jti: randomUUID(),
        iat: now,
        exp: now + options.accessTtlS,
      };
      const refresh: RefreshClaims = {
        typ: 'refresh',
        sub: userId,
        tid: tenantId,
        sid: sessionId,
        jti: randomUUID(),
        iat: now,
        exp: now + options.refreshTtlS,
      };
      const body = (c: AccessClaims | RefreshClaims) => ({
        typ: c.typ,
        sub: c.sub,
        tid: c.tid,
        sid: c.sid,
        jti: c.jti,
        iat: c.iat,
      });
      return {
        accessToken: sign(body(access), options.accessTtlS),
        refreshToken: sign(body(refresh), options.refreshTtlS),
        access,
        refresh,
      };
    },
    verifyAccess,
    verifyRefresh: (token) => verify(token, 'refresh') as unknown as RefreshClaims,
  };
}
