import {
  adjustmentCreate,
  idParams,
  inventoryRoutes,
  listQuery,
  movementQuery,
  productCreate,
  receiptCreate,
  reservationCreate,
  stockQuery,
  transferCreate,
  warehouseCreate,
  type RouteSpec,
} from '@kv/api-contract';
import { isAppError } from '@kv/errors';
import { jsonBody, parseOrThrow, parseParamsOrNotFound } from '@kv/http';
import type { Metrics } from '@kv/metrics';
import { requirePermission } from '@kv/tenant-context/express';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import * as catalog from '../domain/catalog';
import * as reservations from '../domain/reservations';
import * as stock from '../domain/stock';
import { respondMutation, respondRead, type RouteDb } from './respond';

type Handler = (req: Request, res: Response) => Promise<void>;

const idOf = (req: Request, what: string): string =>
  parseParamsOrNotFound(idParams, req.params, what).id.toLowerCase();

/** Handlers keyed by `method path` of the contract's route table. */
function handlers(db: RouteDb, metrics: Metrics): Record<string, Handler> {
  const reservationsTotal = metrics.counter(
    'inventory_reservations_total',
    'Reservation attempts by outcome',
    ['outcome'] as const,
  );
  return {
    'post /v1/warehouses': (req, res) => {
      const input = parseOrThrow(warehouseCreate, req.body);
      return respondMutation(
        db,
        req,
        res,
        201,
        () => Promise.resolve(),
        (trx, ctx) => catalog.createWarehouse(trx, ctx, input),
      );
    },
    'get /v1/warehouses': (req, res) => {
      const q = parseOrThrow(listQuery, req.query, 'query');
      return respondRead(db, res, (trx, ctx) => catalog.listWarehouses(trx, ctx, q));
    },
    'get /v1/warehouses/:id': (req, res) => {
      const id = idOf(req, 'warehouse');
      return respondRead(db, res, (trx, ctx) => catalog.getWarehouse(trx, ctx, id));
    },
    'post /v1/products': (req, res) => {
      const input = parseOrThrow(productCreate, req.body);
      return respondMutation(
        db,
        req,
        res,
        201,
        () => Promise.resolve(),
        (trx, ctx) => catalog.createProduct(trx, ctx, input),
      );
    },
    'get /v1/products': (req, res) => {
      const q = parseOrThrow(listQuery, req.query, 'query');
      return respondRead(db, res, (trx, ctx) => catalog.listProducts(trx, ctx, q));
    },
    'get /v1/products/:id': (req, res) => {
      const id = idOf(req, 'product');
      return respondRead(db, res, (trx, ctx) => catalog.getProduct(trx, ctx, id));
    },
    'post /v1/stock/receipts': (req, res) => {
      const input = parseOrThrow(receiptCreate, req.body);
      return respondMutation(
        db,
        req,
        res,
        201,
        (trx, ctx) => stock.checkReceipt(trx, ctx, input),
        (trx, ctx) => stock.receive(trx, ctx, input),
      );
    },
    'get /v1/stock': (req, res) => {
      const q = parseOrThrow(stockQuery, req.query, 'query');
      return respondRead(db, res, (trx, ctx) => stock.listStock(trx, ctx, q));
    },
    'post /v1/reservations': async (req, res) => {
      const input = parseOrThrow(reservationCreate, req.body);
      const idempotent = req.headers['idempotency-key'] !== undefined;
      try {
        await respondMutation(
          db,
          req,
          res,
          201,
          (trx, ctx) =>
            reservations.canFoldChecks(ctx, input, idempotent)
              ? Promise.resolve()
              : reservations.checkReserve(trx, ctx, input),
          (trx, ctx) =>
            reservations.reserve(trx, ctx, input, {
              referencesChecked: !reservations.canFoldChecks(ctx, input, idempotent),
            }),
        );
        reservationsTotal.inc({ outcome: 'reserved' });
      } catch (err) {
        reservationsTotal.inc({
          outcome: isAppError(err) && err.code === 'INSUFFICIENT_STOCK' ? 'insufficient_stock' : 'failed',
        });
        throw err;
      }
    },
    'get /v1/reservations/:id': (req, res) => {
      const id = idOf(req, 'reservation');
      return respondRead(db, res, (trx, ctx) => reservations.getReservation(trx, ctx, id));
    },
    'post /v1/reservations/:id/commit': (req, res) => {
      const id = idOf(req, 'reservation');
      return respondMutation(
        db,
        req,
        res,
        200,
        (trx, ctx) => reservations.checkClose(trx, ctx, id),
        (trx, ctx) => reservations.commitReservation(trx, ctx, id),
      );
    },
    'post /v1/reservations/:id/release': (req, res) => {
      const id = idOf(req, 'reservation');
      return respondMutation(
        db,
        req,
        res,
        200,
        (trx, ctx) => reservations.checkClose(trx, ctx, id),
        (trx, ctx) => reservations.releaseReservation(trx, ctx, id),
      );
    },
    'post /v1/stock/adjustments': (req, res) => {
      const input = parseOrThrow(adjustmentCreate, req.body);
      return respondMutation(
        db,
        req,
        res,
        201,
        (trx, ctx) => stock.checkAdjustment(trx, ctx, input),
        (trx, ctx) => stock.adjust(trx, ctx, input),
      );
    },
    'post /v1/stock/transfers': (req, res) => {
      const input = parseOrThrow(transferCreate, req.body);
      return respondMutation(
        db,
        req,
        res,
        201,
        (trx, ctx) => stock.checkTransfer(trx, ctx, input),
        (trx, ctx) => stock.transfer(trx, ctx, input),
      );
    },
    'get /v1/stock/movements': (req, res) => {
      const q = parseOrThrow(movementQuery, req.query, 'query');
      return respondRead(db, res, (trx, ctx) => stock.listMovements(trx, ctx, q));
    },
  };
}

/** The route's permission check, straight from the shared route table (403 before any 400). */
function accessGuard(spec: RouteSpec): RequestHandler[] {
  if (spec.access === 'authenticated') return [];
  if (spec.access === 'public' || spec.access === 'platform_admin') {
    throw new Error(
      `inventory does not serve ${spec.access} route ${spec.method.toUpperCase()} ${spec.path}`,
    );
  }
  return [requirePermission(spec.access)];
}

/**
 * Every inventory route of the contract, mounted from `inventoryRoutes` so the permission each one demands
 * is the one the gateway enforces and documents. Throws at start-up if a route has no handler.
 */
export function inventoryRouter(db: RouteDb, metrics: Metrics): Router {
  const router = express.Router();
  const byKey = handlers(db, metrics);
  for (const spec of inventoryRoutes) {
    const handler = byKey[`${spec.method} ${spec.path}`];
    if (!handler) throw new Error(`no handler for ${spec.method.toUpperCase()} ${spec.path}`);
    const body = spec.method === 'get' ? [] : [jsonBody()];
    router[spec.method](spec.path, ...accessGuard(spec), ...body, handler);
  }
  return router;
}
