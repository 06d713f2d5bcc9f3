import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** Log fields of the request being served: request id, then tenant and user once known. */
export interface RequestFields {
  request_id: string;
  tenant_id?: string;
  user_id?: string;
}

const storage = new AsyncLocalStorage<RequestFields>();

/** The current request's log fields, or `undefined` outside a request. Pass to the logger's `context`. */
export function currentRequestFields(): RequestFields | undefined {
  return storage.getStore();
}

/** Adds tenant/user ids to the current request's log fields (after authentication). */
export function setRequestFields(fields: Partial<RequestFields>): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}

/** Runs `fn` with its own log fields (jobs, background work). */
export function withRequestFields<T>(fields: RequestFields, fn: () => T): T {
  return storage.run({ ...fields }, fn);
}

const SANE_ID = /^[\x21-\x7e]{1,200}$/;

/** The client's `X-Request-Id` if sane (1..200 printable ASCII, no spaces), else a new UUID. */
export function sanitizeRequestId(value: unknown): string {
  return typeof value === 'string' && SANE_ID.test(value) ? value : randomUUID();
}

/** The request id set by {@link requestId}. */
export function getRequestId(res: Response): string {
  const id = (res.locals as { requestId?: unknown }).requestId;
  return typeof id === 'string' ? id : 'unknown';
}

/**
 * Accepts a sane `X-Request-Id` or makes one, echoes it on the response, keeps it in `res.locals.requestId`,
 * and runs the rest of the request inside its log context.
 */
export function requestId(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const id = sanitizeRequestId(req.headers['x-request-id']);
    (res.locals as { requestId: string }).requestId = id;
    res.setHeader('X-Request-Id', id);
    storage.run({ request_id: id }, next);
  };
}
