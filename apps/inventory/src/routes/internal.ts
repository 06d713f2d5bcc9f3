import type { Metrics } from '@kv/metrics';
import { requireContext } from '@kv/tenant-context';
import express, { type Router } from 'express';
import type { Knex } from 'knex';
import { expireDue } from '../domain/reservations';

/**
 * `/internal/*`: service identities only, never proxied by the gateway.
 * `POST /internal/reservations/expire-due` → `{expired: n}` (system role, all tenants, each exactly once).
 */
export function internalRouter(systemDb: Knex, metrics: Metrics): Router {
  const router = express.Router();
  const expiredTotal = metrics.counter(
    'inventory_reservations_expired_total',
    'Reservations expired by the sweep',
  );
  router.post('/internal/reservations/expire-due', async (_req, res) => {
    const ctx = requireContext();
    const expired = await expireDue(systemDb, ctx.requestId || null);
    expiredTotal.inc(expired);
    res.status(200).json({ expired });
  });
  return router;
}
