import { z } from 'zod';
import {
  idParams,
  listQuery,
  nonNegativeInt,
  nonZeroInt,
  page,
  positiveInt,
  text,
  timestamp,
  uuid,
  uuidQuery,
} from './common';
import { defineRoutes } from './routes';

/** Most lines one receipt, reservation or transfer may carry. */
export const MAX_LINES = 200;
/** Reservation lifetime bounds in seconds (contract: 1..86400, default 900). */
export const RESERVATION_TTL = { min: 1, max: 86_400, default: 900 } as const;

// ---------------------------------------------------------------- warehouses

/** `POST /v1/warehouses` body. `code` is unique per tenant. */
export const warehouseCreate = z.object({ code: text(64), name: text() }).meta({ id: 'WarehouseCreate' });
export type WarehouseCreate = z.infer<typeof warehouseCreate>;

export const warehouse = z
  .object({ id: uuid(), code: z.string(), name: z.string(), created_at: timestamp() })
  .meta({ id: 'Warehouse' });
export type Warehouse = z.infer<typeof warehouse>;

// ------------------------------------------------------------------ products

/** `POST /v1/products` body. `sku` is unique per tenant; `unit` defaults to `unit`. */
export const productCreate = z
  .object({ sku: text(64), name: text(), unit: text().optional() })
  .meta({ id: 'ProductCreate' });
export type ProductCreate = z.infer<typeof productCreate>;

export const product = z
  .object({ id: uuid(), sku: z.string(), name: z.string(), unit: z.string(), created_at: timestamp() })
  .meta({ id: 'Product' });
export type Product = z.infer<typeof product>;

// --------------------------------------------------------------------- stock

/** `GET /v1/stock` query: optional filters plus `limit`/`cursor`. */
export const stockQuery = listQuery.extend({ warehouse_id: uuidQuery(), product_id: uuidQuery() });
export type StockQuery = z.infer<typeof stockQuery>;

/** One product in one warehouse. `available = on_hand - reserved`; `average_cost` in minor units per base unit. */
export const stockLevel = z
  .object({
    product_id: uuid(),
    warehouse_id: uuid(),
    on_hand: z.number().int(),
    reserved: z.number().int(),
    available: z.number().int(),
    average_cost: z.number().int(),
  })
  .meta({ id: 'StockLevel' });
export type StockLevel = z.infer<typeof stockLevel>;

// ------------------------------------------------------------------ receipts

export const receiptLineInput = z.object({
  product_id: uuid(),
  quantity: positiveInt(),
  unit_cost: nonNegativeInt(),
});

/** `POST /v1/stock/receipts` body. Each line is its own movement (lines are not merged: costs may differ). */
export const receiptCreate = z
  .object({
    warehouse_id: uuid(),
    reference: text().optional(),
    lines: z.array(receiptLineInput).min(1).max(MAX_LINES),
  })
  .meta({ id: 'ReceiptCreate' });
export type ReceiptCreate = z.infer<typeof receiptCreate>;

export const receipt = z
  .object({
    id: uuid(),
    warehouse_id: uuid(),
    reference: z.string().nullable(),
    lines: z.array(
      z.object({
        product_id: uuid(),
        quantity: z.number().int(),
        unit_cost: z.number().int(),
        movement_id: uuid(),
      }),
    ),
    created_at: timestamp(),
  })
  .meta({ id: 'Receipt' });
export type Receipt = z.infer<typeof receipt>;

// -------------------------------------------------------------- reservations

export const quantityLineInput = z.object({ product_id: uuid(), quantity: positiveInt() });

/** `POST /v1/reservations` body. Lines naming the same product are merged (quantities summed). */
export const reservationCreate = z
  .object({
    warehouse_id: uuid(),
    lines: z.array(quantityLineInput).min(1).max(MAX_LINES),
    ttl_seconds: z.number().int().min(RESERVATION_TTL.min).max(RESERVATION_TTL.max).optional(),
  })
  .meta({ id: 'ReservationCreate' });
export type ReservationCreate = z.infer<typeof reservationCreate>;

export const RESERVATION_STATUSES = ['active', 'committed', 'released', 'expired'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

/** A reservation. An active one past `expires_at` is reported as `expired`, even before the sweep ran. */
export const reservation = z
  .object({
    id: uuid(),
    status: z.enum(RESERVATION_STATUSES),
    warehouse_id: uuid(),
    lines: z.array(z.object({ product_id: uuid(), quantity: z.number().int() })),
    expires_at: timestamp(),
    created_at: timestamp(),
  })
  .meta({ id: 'Reservation' });
export type Reservation = z.infer<typeof reservation>;

// --------------------------------------------------------------- adjustments

/** `POST /v1/stock/adjustments` body. A negative delta may not exceed what is available. */
export const adjustmentCreate = z
  .object({ warehouse_id: uuid(), product_id: uuid(), quantity_delta: nonZeroInt(), reason: text(1000) })
  .meta({ id: 'AdjustmentCreate' });
export type AdjustmentCreate = z.infer<typeof adjustmentCreate>;

export const adjustment = z
  .object({
    id: uuid(),
    warehouse_id: uuid(),
    product_id: uuid(),
    quantity_delta: z.number().int(),
    reason: z.string(),
    movement_id: uuid(),
    created_at: timestamp(),
  })
  .meta({ id: 'Adjustment' });
export type Adjustment = z.infer<typeof adjustment>;

// ----------------------------------------------------------------- transfers

/** `POST /v1/stock/transfers` body; atomic. Lines naming the same product are merged. */
export const transferCreate = z
  .object({
    from_warehouse_id: uuid(),
    to_warehouse_id: uuid(),
    reference: text().optional(),
    lines: z.array(quantityLineInput).min(1).max(MAX_LINES),
  })
  .refine((t) => t.from_warehouse_id.toLowerCase() !== t.to_warehouse_id.toLowerCase(), {
    message: 'must differ from from_warehouse_id',
    path: ['to_warehouse_id'],
  })
  .meta({ id: 'TransferCreate' });
export type TransferCreate = z.infer<typeof transferCreate>;

export const transfer = z
  .object({
    id: uuid(),
    from_warehouse_id: uuid(),
    to_warehouse_id: uuid(),
    reference: z.string().nullable(),
    lines: z.array(z.object({ product_id: uuid(), quantity: z.number().int() })),
    created_at: timestamp(),
  })
  .meta({ id: 'Transfer' });
export type Transfer = z.infer<typeof transfer>;

// ----------------------------------------------------------------- movements

export const MOVEMENT_TYPES = ['receipt', 'shipment', 'adjustment', 'transfer_in', 'transfer_out'] as const;
export type MovementType = (typeof MOVEMENT_TYPES)[number];

/** `GET /v1/stock/movements` query. */
export const movementQuery = listQuery.extend({ warehouse_id: uuidQuery(), product_id: uuidQuery() });
export type MovementQuery = z.infer<typeof movementQuery>;

/**
 * One ledger row (append-only). `quantity` is signed; `unit_cost` is the receipt's cost for receipts and the
 * average in force for the other types. `document_type`/`document_id` name the receipt, reservation,
 * adjustment or transfer that caused it. Listed newest first.
 */
export const stockMovement = z
  .object({
    id: uuid(),
    type: z.enum(MOVEMENT_TYPES),
    product_id: uuid(),
    warehouse_id: uuid(),
    quantity: z.number().int(),
    unit_cost: z.number().int(),
    reference: z.string().nullable(),
    document_type: z.enum(['receipt', 'reservation', 'adjustment', 'transfer']),
    document_id: uuid(),
    created_at: timestamp(),
  })
  .meta({ id: 'StockMovement' });
export type StockMovement = z.infer<typeof stockMovement>;

/** Public routes of the inventory area. */
export const inventoryRoutes = defineRoutes([
  {
    method: 'post',
    path: '/v1/warehouses',
    upstream: 'inventory',
    access: 'inventory:write',
    summary: 'Create a warehouse (code unique per tenant)',
    tag: 'Inventory',
    body: warehouseCreate,
    responses: { 201: warehouse },
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/warehouses',
    upstream: 'inventory',
    access: 'inventory:read',
    summary: 'List warehouses (ordered by code)',
    tag: 'Inventory',
    query: listQuery,
    responses: { 200: page(warehouse) },
  },
  {
    method: 'get',
    path: '/v1/warehouses/:id',
    upstream: 'inventory',
    access: 'inventory:read',
    summary: 'Get a warehouse',
    tag: 'Inventory',
    params: idParams,
    responses: { 200: warehouse },
  },
  {
    method: 'post',
    path: '/v1/products',
    upstream: 'inventory',
    access: 'inventory:write',
    summary: 'Create a product (sku unique per tenant)',
    tag: 'Inventory',
    body: productCreate,
    responses: { 201: product },
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/products',
    upstream: 'inventory',
    access: 'inventory:read',
    summary: 'List products (ordered by sku)',
    tag: 'Inventory',
    query: listQuery,
    responses: { 200: page(product) },
  },
  {
    method: 'get',
    path: '/v1/products/:id',
    upstream: 'inventory',
    access: 'inventory:read',
    summary: 'Get a product',
    tag: 'Inventory',
    params: idParams,
    responses: { 200: product },
  },
  {
    method: 'post',
    path: '/v1/stock/receipts',
    upstream: 'inventory',
    access: 'inventory:write',
    summary: 'Receive goods (updates the moving-average cost)',
    tag: 'Inventory',
    body: receiptCreate,
    responses: { 201: receipt },
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/stock',
    upstream: 'inventory',
    access: 'inventory:read',
    summary: 'Stock levels by product and warehouse',
    tag: 'Inventory',
    query: stockQuery,
    responses: { 200: page(stockLevel) },
  },
  {
    method: 'post',
    path: '/v1/reservations',
    upstream: 'inventory',
    access: 'inventory:write',
    summary: 'Reserve stock (all lines or none)',
    tag: 'Inventory',
    body: reservationCreate,
    responses: { 201: reservation },
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/reservations/:id',
    upstream: 'inventory',
    access: 'inventory:read',
    summary: 'Get a reservation',
    tag: 'Inventory',
    params: idParams,
    responses: { 200: reservation },
  },
  {
    method: 'post',
    path: '/v1/reservations/:id/commit',
    upstream: 'inventory',
    access: 'inventory:write',
    summary: 'Commit a reservation: the goods leave (shipment)',
    tag: 'Inventory',
    params: idParams,
    responses: { 200: reservation },
    idempotent: true,
  },
  {
    method: 'post',
    path: '/v1/reservations/:id/release',
    upstream: 'inventory',
    access: 'inventory:write',
    summary: 'Release a reservation',
    tag: 'Inventory',
    params: idParams,
    responses: { 200: reservation },
    idempotent: true,
  },
  {
    method: 'post',
    path: '/v1/stock/adjustments',
    upstream: 'inventory',
    access: 'inventory:adjust',
    summary: 'Adjust stock up or down',
    tag: 'Inventory',
    body: adjustmentCreate,
    responses: { 201: adjustment },
    idempotent: true,
  },
  {
    method: 'post',
    path: '/v1/stock/transfers',
    upstream: 'inventory',
    access: 'inventory:write',
    summary: 'Move stock between warehouses (atomic)',
    tag: 'Inventory',
    body: transferCreate,
    responses: { 201: transfer },
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/stock/movements',
    upstream: 'inventory',
    access: 'inventory:read',
    summary: 'The stock ledger, newest first',
    tag: 'Inventory',
    query: movementQuery,
    responses: { 200: page(stockMovement) },
  },
]);
