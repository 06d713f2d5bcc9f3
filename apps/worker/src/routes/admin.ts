import express, { type Router } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { errors } from '@kv/errors';
import { parseOrThrow, parseParamsOrNotFound, setRequestFields } from '@kv/http';
import { requireContext, type IdentityCodec } from '@kv/tenant-context';
import { requireIdentity } from '@kv/tenant-context/express';
import type { FailedJobsRepo } from '../data/failed-jobs';
import { decodeFailedJobCursor, listFailedJobs, retryFailedJob } from '../domain/failed-jobs';
import type { QueueName, WorkerQueue } from '../queues/queues';

/**
 * Role the gateway adds to the forwarded identity of a platform administrator (`PLATFORM_ADMIN_ROLE` of
 * @kv/api-contract). The failed-jobs API is for them only.
 */
export const PLATFORM_ADMIN_ROLE = 'platform_admin';

const listQuery = z.object({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be an integer 1..200')
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1').max(200, 'must be at most 200'))
    .optional()
    .transform((v) => v ?? 50),
  cursor: z.string().max(500).optional(),
});

const idParams = z.object({
  id: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i),
});

/** What the admin routes need. */
export interface AdminRouteDeps {
  codec: IdentityCodec;
  systemKnex: Knex;
  failedJobs: FailedJobsRepo;
  queues: Record<QueueName, WorkerQueue>;
}

/**
 * `GET /v1/admin/failed-jobs` and `POST /v1/admin/failed-jobs/:id/retry`: 401 without a valid forwarded
 * identity, 403 unless its `roles` include `platform_admin`.
 */
export function adminRouter(deps: AdminRouteDeps): Router {
  const router = express.Router();
  router.use(
    '/v1',
    requireIdentity(deps.codec, {
      onIdentity: (ctx) =>
        setRequestFields({ tenant_id: ctx.tenantId, ...(ctx.userId ? { user_id: ctx.userId } : {}) }),
    }),
    (_req, _res, next) => {
      if (!requireContext().roles.includes(PLATFORM_ADMIN_ROLE)) {
        throw errors.forbidden('This requires a platform administrator.');
      }
      next();
    },
  );

  router.get('/v1/admin/failed-jobs', async (req, res) => {
    const query = parseOrThrow(listQuery, req.query, 'query');
    let cursor;
    if (query.cursor !== undefined) {
      cursor = decodeFailedJobCursor(query.cursor);
      if (!cursor)
        throw errors.validation(
          [{ path: 'cursor', message: 'invalid cursor' }],
          'The request query is invalid.',
        );
    }
    res.json(await listFailedJobs(deps.failedJobs, query.limit, cursor));
  });

  router.post('/v1/admin/failed-jobs/:id/retry', async (req, res) => {
    const { id } = parseParamsOrNotFound(idParams, req.params, 'failed job');
    res.json(await retryFailedJob(deps.systemKnex, deps.failedJobs, deps.queues, id));
  });
  return router;
}
