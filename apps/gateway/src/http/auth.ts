import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Access } from '@kv/api-contract';
import { AppError } from '@kv/errors';
import { setRequestFields } from '@kv/http';
import type { IdentityResolver, ResolvedIdentity } from '../domain/identity';
import type { AccessClaims, TokenService } from '../domain/tokens';

/** What authentication found out about the current request. */
export interface AuthState {
  /** Claims of a cryptographically valid access token (not yet checked against revocation). */
  claims?: AccessClaims;
  /** Why the token was refused; answered after the rate limit has counted the request. */
  error?: AppError;
  /** The user's current identity once resolved. */
  identity?: ResolvedIdentity;
  /**
   * The identity lookup (revocation check + roles), started as soon as the token verified so that its Redis
   * round trip overlaps the rate limiters'. Awaited by {@link requireUser}.
   */
  pending?: Promise<ResolvedIdentity>;
}

/** The request's auth state (empty for anonymous requests). */
export function authState(res: Response): AuthState {
  const locals = res.locals as { auth?: AuthState };
  locals.auth ??= {};
  return locals.auth;
}

/** The resolved identity. @throws AppError UNAUTHENTICATED when there is none. */
export function identityOf(res: Response): ResolvedIdentity {
  const identity = authState(res).identity;
  if (!identity) throw new AppError('UNAUTHENTICATED');
  return identity;
}

/** The bearer token of `Authorization`, `undefined` if absent, `null` if malformed. */
export function bearerToken(req: Request): string | null | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+([A-Za-z0-9_.~+/=-]+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/**
 * Verifies the bearer token's signature and claims and records the result. It never answers by itself: the
 * rate limiter counts the request first (per user when the token is valid, per IP otherwise), then
 * {@link requireUser} answers 401. With a `resolver`, the identity lookup starts here (see
 * {@link AuthState.pending}); its outcome is only used once the limits have passed.
 */
export function verifyBearer(
  tokens: TokenService,
  access: Access,
  resolver?: IdentityResolver,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (access === 'public') {
      next();
      return;
    }
    const state = authState(res);
    const token = bearerToken(req);
    if (token === undefined)
      state.error = new AppError('UNAUTHENTICATED', 'A bearer access token is required.');
    else if (token === null)
      state.error = new AppError('UNAUTHENTICATED', 'The Authorization header is malformed.');
    else {
      try {
        state.claims = tokens.verifyAccess(token);
      } catch (err) {
        state.error =
          err instanceof AppError ? err : new AppError('UNAUTHENTICATED', 'The token is invalid.');
      }
      if (state.claims && resolver) {
        state.pending = resolver.resolve(state.claims);
        // Observed later by requireUser; a request stopped by a limit must not leave an unhandled rejection.
        state.pending.catch(() => undefined);
      }
    }
    next();
  };
}

/**
 * 401 unless the token was valid, is not revoked and its user is still enabled; then the user's current
 * roles and attributes become the request's identity.
 */
export function requireUser(resolver: IdentityResolver, access: Access): RequestHandler {
  return async (_req: Request, res: Response, next: NextFunction) => {
    if (access === 'public') {
      next();
      return;
    }
    const state = authState(res);
    if (state.error || !state.claims) throw state.error ?? new AppError('UNAUTHENTICATED');
    state.identity = await (state.pending ?? resolver.resolve(state.claims));
    setRequestFields({ tenant_id: state.identity.tenantId, user_id: state.identity.userId });
    next();
  };
}

/** Whether an identity may use a route with this access rule. */
export function isAllowed(access: Access, identity: ResolvedIdentity | undefined): boolean {
  if (access === 'public') return true;
  if (!identity) return false;
  if (access === 'authenticated') return true;
  if (access === 'platform_admin') return identity.platformAdmin;
  return identity.permissions.includes(access);
}

/** 403 `forbidden` unless the identity's roles grant the route's access (the contract's precedence: after 401). */
export function authorize(access: Access): RequestHandler {
  return (_req, res, next) => {
    if (!isAllowed(access, authState(res).identity)) {
      throw new AppError(
        'FORBIDDEN',
        access === 'platform_admin'
          ? 'Only the platform administrator may do this.'
          : `This requires the ${access} permission.`,
      );
    }
    next();
  };
}
