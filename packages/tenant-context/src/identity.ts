import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { AppError } from '@kv/errors';
import type { TenantContext, UserAttributes } from './context';

/** Header that carries the gateway-verified identity to services. */
export const IDENTITY_HEADER = 'x-kv-identity';

export interface IdentityCodecOptions {
  /** Shared HMAC secret (>= 32 chars) between gateway/worker and services. */
  secret: string;
  /** Lifetime of a signed identity in seconds; default 60. */
  ttlSeconds?: number;
  issuer?: string;
  audience?: string;
}

/** Signs and verifies the identity forwarded from the gateway (and the worker's service identity). */
export interface IdentityCodec {
  sign(ctx: TenantContext): string;
  /** @throws AppError UNAUTHENTICATED if missing, tampered, expired or malformed. */
  verify(token: string | undefined): TenantContext;
}

interface Claims {
  tid: string;
  uid: string | null;
  roles: string[];
  perms: string[];
  attrs: UserAttributes;
  rid: string;
  kind: 'user' | 'service';
}

/** HS256 identity codec. Options are checked once here. */
export function createIdentityCodec(options: IdentityCodecOptions): IdentityCodec {
  if (options.secret.length < 32) throw new Error('identity secret must be at least 32 characters');
  const issuer = options.issuer ?? 'kv-erp';
  const audience = options.audience ?? 'kv-internal';
  const ttl = options.ttlSeconds ?? 60;
  // A KeyObject, not the string: given a string, jsonwebtoken first tries (and fails) to parse it as a PEM
  // public key on every verify, which costs more than the HMAC itself.
  const key = createSecretKey(Buffer.from(options.secret, 'utf8'));
  return {
    sign(ctx) {
      const claims: Claims = {
        tid: ctx.tenantId,
        uid: ctx.userId,
        roles: ctx.roles,
        perms: ctx.permissions,
        attrs: ctx.attributes,
        rid: ctx.requestId,
        kind: ctx.kind,
      };
      return jwt.sign(claims, key, { algorithm: 'HS256', expiresIn: ttl, issuer, audience });
    },
    verify(token) {
      if (!token) throw new AppError('UNAUTHENTICATED', 'Missing service identity.');
      let c: Claims;
      try {
        c = jwt.verify(token, key, {
          algorithms: ['HS256'],
          issuer,
          audience,
        }) as unknown as Claims;
      } catch (err) {
        throw new AppError('UNAUTHENTICATED', 'Invalid service identity.', { cause: err });
      }
      if (
        typeof c.tid !== 'string' ||
        !Array.isArray(c.perms) ||
        (c.kind !== 'user' && c.kind !== 'service')
      ) {
        throw new AppError('UNAUTHENTICATED', 'Malformed service identity.');
      }
      return {
        tenantId: c.tid,
        userId: c.uid ?? null,
        roles: c.roles ?? [],
        permissions: c.perms,
        attributes: c.attrs ?? {},
        requestId: c.rid ?? '',
        kind: c.kind,
      };
    },
  };
}
