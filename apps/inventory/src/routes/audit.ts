import { auditQuery } from '@kv/api-contract';
import { listAudit } from '@kv/audit';
import { parseOrThrow } from '@kv/http';
import { requirePermission } from '@kv/tenant-context/express';
import express, { type Router } from 'express';
import { SCHEMA } from '../data/schema';
import { respondRead, type RouteDb } from './respond';

/** Entity types inventory audits (the gateway routes `GET /v1/audit-events?entity_type=` by these). */
export const INVENTORY_ENTITY_TYPES = [
  'warehouse',
  'product',
  'receipt',
  'reservation',
  'adjustment',
  'transfer',
] as const;

/** `GET /v1/audit-events` (`audit:read`, query schema from the shared route table): this service's audit trail, newest first. */
export function auditRouter(db: RouteDb): Router {
  const router = express.Router();
  router.get('/v1/audit-events', requirePermission('audit:read'), (req, res) => {
    const q = parseOrThrow(auditQuery, req.query, 'query');
    return respondRead(db, res, (trx) =>
      listAudit(trx, SCHEMA, {
        limit: q.limit,
        ...(q.entity_type ? { entityType: q.entity_type } : {}),
        ...(q.entity_id ? { entityId: q.entity_id } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      }),
    );
  });
  return router;
}
