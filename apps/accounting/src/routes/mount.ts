import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { accountingRoutes, PERMISSIONS, type Permission, type RouteSpec } from '@kv/api-contract';
import { AppError } from '@kv/errors';
import { jsonBody, withRequestFields } from '@kv/http';
import type { IdempotentResult } from '@kv/idempotency';
import { parseIdempotencyKey } from '@kv/idempotency';
import { requirePermission } from '@kv/tenant-context/express';
import { runWithContext, type TenantContext } from '@kv/tenant-context';
import type { CommandRequest } from '../data/unit-of-work';

/** The contract's RouteSpec for `method path` (the table the gateway authorizes with). */
export function specOf(method: RouteSpec['method'], path: string): RouteSpec {
  const spec = accountingRoutes.find((r) => r.method === method && r.path === path);
  if (!spec) throw new Error(`no accounting RouteSpec for ${method.toUpperCase()} ${path}`);
  return spec;
}

function isPermission(access: string): access is Permission {
  return (PERMISSIONS as readonly string[]).includes(access);
}

/** The verified identity of this request (set by `requireIdentity`). */
export function identityOf(res: Response): TenantContext {
  const ctx = (res.locals as { identity?: TenantContext }).identity;
  if (!ctx) throw new AppError('UNAUTHENTICATED', 'Missing service identity.');
  return ctx;
}

/**
 * Re-enters the request's tenant and log contexts: the JSON body parser resumes on the socket's async
 * context, which is not the request's.
 */
export function restoreContext(): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    const ctx = identityOf(res);
    const requestId = (res.locals as { requestId?: string }).requestId ?? ctx.requestId;
    withRequestFields(
      { request_id: requestId, tenant_id: ctx.tenantId, ...(ctx.userId ? { user_id: ctx.userId } : {}) },
      () => runWithContext(ctx, next),
    );
  };
}

/**
 * Mounts a handler for a contract route, in the contract's precedence: (identity 401 is mounted on `/v1`),
 * permission 403, then the body is parsed (400), then the handler validates and runs.
 */
export function mount(app: Express, spec: RouteSpec, handler: RequestHandler): void {
  const chain: RequestHandler[] = [];
  if (isPermission(spec.access)) chain.push(requirePermission(spec.access));
  if (spec.method !== 'get') chain.push(jsonBody());
  chain.push(restoreContext(), handler);
  app[spec.method](spec.path, ...chain);
}

/** The command scope of a request (idempotency key validated: 1..255 chars, else 400). */
export function commandOf(req: Request, status: number): CommandRequest {
  return {
    idempotencyKey: parseIdempotencyKey(req.headers['idempotency-key']),
    method: req.method,
    path: req.baseUrl + req.path,
    body: req.body ?? null,
    status,
  };
}

/** Writes a command's (possibly replayed) response. */
export function sendResult(res: Response, result: IdempotentResult): void {
  if (result.replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(result.status).json(result.body);
}
