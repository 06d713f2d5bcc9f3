import type { Request, Response } from 'express';
import { idParams, tenantCreate, userCreate, userListQuery, userPatch } from '@kv/api-contract';
import { getRequestId, parseOrThrow, parseParamsOrNotFound } from '@kv/http';
import { parseIdempotencyKey, type IdempotentResult } from '@kv/idempotency';
import type { TenantsService } from '../domain/tenants-service';
import type { Actor, IdempotencyInput, UsersService } from '../domain/users-service';
import { identityOf } from '../http/auth';
import type { AsyncHandler } from '../http/types';

function actorOf(res: Response): Actor {
  const id = identityOf(res);
  return { tenantId: id.tenantId, userId: id.userId, requestId: getRequestId(res) };
}

function idempotencyOf(req: Request): IdempotencyInput {
  return {
    key: parseIdempotencyKey(req.headers['idempotency-key']),
    method: req.method,
    path: req.baseUrl + req.path,
    rawBody: req.body as unknown,
  };
}

function send(res: Response, result: IdempotentResult): void {
  if (result.replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(result.status).json(result.body);
}

/** Handlers of `/v1/users*` and `/v1/platform/tenants`. */
export function userHandlers(users: UsersService, tenants: TenantsService): Record<string, AsyncHandler> {
  return {
    'post /v1/platform/tenants': async (req, res) => {
      const idem = idempotencyOf(req);
      const input = parseOrThrow(tenantCreate, req.body);
      send(res, await tenants.create(actorOf(res), input, idem));
    },
    'post /v1/users': async (req, res) => {
      const idem = idempotencyOf(req);
      const input = parseOrThrow(userCreate, req.body);
      send(res, await users.create(actorOf(res), input, idem));
    },
    'get /v1/users': async (req, res) => {
      const q = parseOrThrow(userListQuery, req.query, 'query');
      res.json(await users.list(actorOf(res), q.limit, q.cursor));
    },
    'get /v1/users/:id': async (req, res) => {
      const { id } = parseParamsOrNotFound(idParams, req.params, 'user');
      res.json(await users.get(actorOf(res), id.toLowerCase()));
    },
    'patch /v1/users/:id': async (req, res) => {
      const input = parseOrThrow(userPatch, req.body);
      const { id } = parseParamsOrNotFound(idParams, req.params, 'user');
      res.json(await users.patch(actorOf(res), id.toLowerCase(), input));
    },
  };
}
