import type { z } from 'zod';
import type { Permission } from './auth';

/** Which process serves a route. */
export type Upstream = 'gateway' | 'inventory' | 'accounting' | 'worker';

/**
 * Who may call a route: a permission from the contract's table, `authenticated` (any valid user),
 * `platform_admin`, or `public` (no token).
 */
export type Access = Permission | 'authenticated' | 'platform_admin' | 'public';

/**
 * One public route. The gateway routes and authorizes by this table and builds `/openapi.json` from it;
 * services validate with the same schemas.
 */
export interface RouteSpec {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** Express-style path with `:params`, e.g. `/v1/products/:id`. */
  path: string;
  upstream: Upstream;
  access: Access;
  summary: string;
  tag: string;
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
  /** Success responses by status; `null` for no body (204). */
  responses: Record<number, z.ZodType | null>;
  /** Accepts `Idempotency-Key` (every POST under /v1 except /v1/auth/*). */
  idempotent?: boolean;
}

export function defineRoutes(routes: RouteSpec[]): RouteSpec[] {
  return routes;
}
