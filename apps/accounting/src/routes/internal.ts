import type { Express } from 'express';
import { stockMovementPostingRequest } from '@kv/api-contract';
import { jsonBody, parseOrThrow } from '@kv/http';
import type { AppDeps } from '../deps';
import { consumeStockMovement } from '../domain/stock-events';
import { identityOf, restoreContext } from './mount';

/** Internal endpoints (service identities only; never proxied by the gateway). */
export function mountInternalRoutes(app: Express, deps: AppDeps): void {
  app.post('/internal/events/stock-movement', jsonBody(), restoreContext(), async (req, res) => {
    const ctx = identityOf(res);
    const event = parseOrThrow(stockMovementPostingRequest, req.body);
    const result = await consumeStockMovement({ uow: deps.uow, bootstrap: deps.bootstrap }, ctx, event);
    deps.appMetrics.stockEvents.inc({
      result: result.duplicate ? 'duplicate' : result.entry_id ? 'posted' : 'nothing_to_post',
    });
    if (result.entry_id && !result.duplicate) deps.appMetrics.entriesPosted.inc({ kind: 'stock_movement' });
    res.status(200).json(result);
  });
}
