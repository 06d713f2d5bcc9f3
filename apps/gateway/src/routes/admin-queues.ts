import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response, Router } from 'express';
import express from 'express';
import type Bull from 'bull';
import { createBullBoard } from '@bull-board/api';
import { BullAdapter } from '@bull-board/api/bullAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { PLATFORM_TENANT_SLUG } from '@kv/api-contract';
import { AppError } from '@kv/errors';
import type { SystemDirectory } from '../data/system-directory';
import type { IdentityResolver } from '../domain/identity';
import type { PasswordHasher } from '../domain/passwords';
import type { TokenService } from '../domain/tokens';
import { authState, bearerToken } from '../http/auth';

export interface AdminQueuesOptions {
  queues: Bull.Queue[];
  tokens: TokenService;
  identity: IdentityResolver;
  directory: SystemDirectory;
  passwords: PasswordHasher;
  /** Limiters run after the cheap credential check and before the expensive one (see below). */
  limiters: express.RequestHandler[];
  /** How long a verified Basic credential is remembered (the dashboard polls); default 30 s. */
  basicCacheMs?: number;
}

const REALM = 'Basic realm="kv-erp queues", charset="UTF-8"';

/**
 * `/admin/queues`: the bull-board dashboard of queues `high`, `default`, `low`, for the platform admin only,
 * authenticated by a bearer access token or by HTTP Basic with the platform admin's email and password.
 */
export function adminQueuesRouter(options: AdminQueuesOptions): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/admin/queues');
  createBullBoard({ queues: options.queues.map((q) => new BullAdapter(q)), serverAdapter });
  const cacheMs = options.basicCacheMs ?? 30_000;
  const verified = new Map<string, number>();

  const digest = (header: string) => createHash('sha256').update(header).digest();
  const cacheKey = (d: Buffer) => d.toString('base64');

  /** Cheap pass: a valid bearer token or a recently verified Basic credential counts as the user. */
  const identify = (req: Request, res: Response, next: NextFunction) => {
    const state = authState(res);
    const bearer = bearerToken(req);
    if (typeof bearer === 'string') {
      try {
        state.claims = options.tokens.verifyAccess(bearer);
      } catch (err) {
        state.error = err instanceof AppError ? err : new AppError('UNAUTHENTICATED');
      }
    }
    next();
  };

  const basicUser = async (header: string): Promise<boolean> => {
    const d = digest(header);
    const until = verified.get(cacheKey(d));
    if (until !== undefined && until > Date.now()) return true;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1) return false;
    const email = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const record = await options.directory.findLogin(PLATFORM_TENANT_SLUG, email);
    if (!record) {
      await options.passwords.burn(password);
      return false;
    }
    const ok =
      (await options.passwords.verify(password, record.passwordHash)) &&
      !record.disabled &&
      record.roles.includes('admin');
    if (ok) {
      if (verified.size > 100) verified.clear();
      verified.set(cacheKey(d), Date.now() + cacheMs);
    }
    return ok;
  };

  const gate = async (req: Request, res: Response, next: NextFunction) => {
    const state = authState(res);
    const header = req.headers.authorization ?? '';
    if (state.claims) {
      const identity = await options.identity.resolve(state.claims);
      if (!identity.platformAdmin)
        throw new AppError('FORBIDDEN', 'Only the platform administrator may see the queues.');
      next();
      return;
    }
    if (/^Basic /i.test(header) && (await basicUser(header))) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', REALM);
    throw state.error ?? new AppError('UNAUTHENTICATED', 'Log in as the platform administrator.');
  };

  const router = express.Router();
  router.use(identify, ...options.limiters, gate, serverAdapter.getRouter() as express.Router);
  return router;
}
