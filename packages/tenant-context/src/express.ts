import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '@kv/errors';
import { hasPermission, requireContext, runWithContext, type TenantContext } from './context';
import { IDENTITY_HEADER, type IdentityCodec } from './identity';

export interface IdentityMiddlewareOptions {
  /** Only accept these kinds (e.g. `['service']` for internal endpoints). Default: both. */
  kinds?: TenantContext['kind'][];
  /** Called once the identity is known (e.g. to add tenant/user ids to log fields). */
  onIdentity?: (ctx: TenantContext) => void;
}

/**
 * Verifies the forwarded identity header and runs the rest of the request inside its tenant context.
 * A request without a valid identity gets 401 (services are never open to unauthenticated callers).
 */
export function requireIdentity(
  codec: IdentityCodec,
  options: IdentityMiddlewareOptions = {},
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers[IDENTITY_HEADER];
    const ctx = codec.verify(typeof header === 'string' ? header : undefined);
    if (options.kinds && !options.kinds.includes(ctx.kind)) {
      throw new AppError('UNAUTHENTICATED', 'This endpoint is not available to this caller.');
    }
    const requestId = (res.locals as { requestId?: string }).requestId;
    const withRid = requestId ? { ...ctx, requestId } : ctx;
    (res.locals as { identity?: TenantContext }).identity = withRid;
    options.onIdentity?.(withRid);
    runWithContext(withRid, next);
  };
}

/** 403 `forbidden` unless the current identity holds `permission`. */
export function requirePermission(permission: string): RequestHandler {
  return (_req, _res, next) => {
    if (!hasPermission(requireContext(), permission)) {
      throw new AppError('FORBIDDEN', `This requires the ${permission} permission.`);
    }
    next();
  };
}
