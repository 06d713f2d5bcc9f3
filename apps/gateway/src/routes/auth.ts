import type { Response } from 'express';
import { loginRequest, refreshRequest, type Me } from '@kv/api-contract';
import { AppError } from '@kv/errors';
import { parseOrThrow } from '@kv/http';
import type { AuthService } from '../domain/auth-service';
import { authState, identityOf } from '../http/auth';
import type { AsyncHandler } from '../http/types';

function noStore(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
}

/** Handlers of `/v1/auth/*`. */
export function authHandlers(auth: AuthService): Record<string, AsyncHandler> {
  return {
    'post /v1/auth/login': async (req, res) => {
      const input = parseOrThrow(loginRequest, req.body);
      const tokens = await auth.login(input);
      noStore(res);
      res.json(tokens);
    },
    'post /v1/auth/refresh': async (req, res) => {
      const input = parseOrThrow(refreshRequest, req.body);
      const tokens = await auth.refresh(input.refresh_token);
      noStore(res);
      res.json(tokens);
    },
    'post /v1/auth/logout': async (_req, res) => {
      const claims = authState(res).claims;
      if (!claims) throw new AppError('UNAUTHENTICATED');
      await auth.logout(claims);
      res.status(204).end();
    },
    'get /v1/auth/me': (_req, res) => {
      const id = identityOf(res);
      const me: Me = {
        user_id: id.userId,
        tenant_id: id.tenantId,
        email: id.email,
        roles: id.roles,
        permissions: id.permissions,
        attributes: id.attributes,
      };
      noStore(res);
      res.json(me);
      return Promise.resolve();
    },
  };
}
