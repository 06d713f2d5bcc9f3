import { z } from 'zod';
import {
  date,
  idParams,
  int,
  listQuery,
  MAX_INT,
  nonNegativeInt,
  page,
  period,
  text,
  timestamp,
  uuid,
  uuidQuery,
} from './common';
import { defineRoutes, type RouteSpec } from './routes';

/** Most lines one journal entry may have (a 1 MiB body holds far fewer anyway). */
export const MAX_JOURNAL_LINES = 1000;

/** The five account types of a chart of accounts. */
export const ACCOUNT_TYPES = ['asset', 'liability', 'equity', 'revenue', 'expense'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];
export const accountType = z.enum(ACCOUNT_TYPES).meta({ id: 'AccountType' });

/**
 * System accounts every tenant has from the first time it is seen (contract: 1300, 2100, 5000, 6100).
 * Stock movement postings use them.
 */
export const SYSTEM_ACCOUNTS = [
  { code: '1300', name: 'Inventory', type: 'asset' },
  { code: '2100', name: 'Goods received not invoiced', type: 'liability' },
  { code: '5000', name: 'Cost of goods sold', type: 'expense' },
  { code: '6100', name: 'Inventory adjustments', type: 'expense' },
] as const satisfies readonly { code: string; name: string; type: AccountType }[];

/** `POST /v1/accounts` body. `code` is unique per tenant. */
export const createAccountBody = z
  .object({ code: text(64), name: text(200), type: accountType })
  .meta({ id: 'CreateAccountRequest' });
export type CreateAccountBody = z.infer<typeof createAccountBody>;

/** An account as listed. `system` marks the four accounts every tenant starts with. */
export const accountSchema = z
  .object({
    id: uuid(),
    code: z.string(),
    name: z.string(),
    type: accountType,
    system: z.boolean(),
    created_at: timestamp(),
  })
  .meta({ id: 'Account' });
export type Account = z.infer<typeof accountSchema>;

/** Totals of posted lines in minor units; `net = debit − credit`. */
export const accountBalanceSchema = z
  .object({ debit: z.number().int(), credit: z.number().int(), net: z.number().int() })
  .meta({ id: 'AccountBalance' });

/** `GET /v1/accounts/:id`: the account with its exact balance. */
export const accountWithBalanceSchema = accountSchema
  .extend({ balance: accountBalanceSchema })
  .meta({ id: 'AccountWithBalance' });
export type AccountWithBalance = z.infer<typeof accountWithBalanceSchema>;

/** `GET /v1/accounts?type=&limit=&cursor=` (ordered by code). */
export const accountListQuery = listQuery.extend({ type: accountType.optional() });

/** One journal line in a request: exactly one of `debit`/`credit` is > 0 (minor units, JSON integers). */
export const journalLineInput = z
  .object({ account_id: uuid(), debit: nonNegativeInt(), credit: nonNegativeInt() })
  .refine((l) => l.debit > 0 !== l.credit > 0, {
    message: 'exactly one of debit and credit must be greater than 0',
  })
  .meta({ id: 'JournalLineInput' });

/** `POST /v1/journal-entries` body: at least 2 lines. Debits must equal credits (else 422 `unbalanced-entry`). */
export const postJournalEntryBody = z
  .object({
    date: date(),
    memo: text(1000).nullable().optional(),
    lines: z.array(journalLineInput).min(2, 'a journal entry needs at least 2 lines').max(MAX_JOURNAL_LINES),
  })
  .meta({ id: 'PostJournalEntryRequest' });
export type PostJournalEntryBody = z.infer<typeof postJournalEntryBody>;

/** A posted journal line. */
export const journalLineSchema = z
  .object({ account_id: uuid(), debit: z.number().int(), credit: z.number().int() })
  .meta({ id: 'JournalLine' });

/** Where an entry came from: `null` for manual entries (and their reversals). */
export const journalEntrySourceSchema = z
  .object({ type: z.enum(['stock_movement']), id: uuid() })
  .nullable()
  .meta({ id: 'JournalEntrySource' });

/**
 * A posted journal entry. `number` is unique and increasing per tenant (gaps allowed). `reversal_of` is the
 * entry this one reverses; `reversed_by` the entry that reversed this one.
 */
export const journalEntrySchema = z
  .object({
    id: uuid(),
    number: z.number().int(),
    date: date(),
    memo: z.string().nullable(),
    status: z.literal('posted'),
    lines: z.array(journalLineSchema),
    source: journalEntrySourceSchema,
    reversal_of: uuid().nullable(),
    reversed_by: uuid().nullable(),
    created_at: timestamp(),
  })
  .meta({ id: 'JournalEntry' });
export type JournalEntry = z.infer<typeof journalEntrySchema>;

/** `GET /v1/journal-entries?from=&to=&account_id=&limit=&cursor=` (newest date first, then number). */
export const journalEntryListQuery = listQuery
  .extend({ from: date().optional(), to: date().optional(), account_id: uuidQuery() })
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, {
    message: 'from must not be after to',
    path: ['from'],
  });

/** `POST /v1/journal-entries/:id/reverse` body: the reversal's date (default today, UTC). */
export const reverseJournalEntryBody = z
  .object({ date: date().optional() })
  .meta({ id: 'ReverseJournalEntryRequest' });

/** `GET /v1/trial-balance?as_of=` (default today, UTC). */
export const trialBalanceQuery = z.object({ as_of: date().optional() });

/** One trial balance line: the account's net balance on one side, the other side 0. */
export const trialBalanceLineSchema = z
  .object({
    account_id: uuid(),
    code: z.string(),
    name: z.string(),
    debit: z.number().int(),
    credit: z.number().int(),
  })
  .meta({ id: 'TrialBalanceLine' });

/** Trial balance as of a date (entries dated on or before it); `total_debit === total_credit`. */
export const trialBalanceSchema = z
  .object({
    as_of: date(),
    lines: z.array(trialBalanceLineSchema),
    total_debit: z.number().int(),
    total_credit: z.number().int(),
  })
  .meta({ id: 'TrialBalance' });
export type TrialBalance = z.infer<typeof trialBalanceSchema>;

/** Path `:period` (`YYYY-MM`); a malformed period is a 400, not a 404. */
export const periodParams = z.object({ period: period() });

/** A fiscal period's state after `POST /v1/periods/:period/close`. */
export const periodCloseSchema = z
  .object({ period: period(), status: z.literal('closed'), closed_at: timestamp() })
  .meta({ id: 'PeriodClose' });

/** Stock movement types inventory announces. */
export const STOCK_MOVEMENT_TYPES = [
  'receipt',
  'shipment',
  'adjustment',
  'transfer_in',
  'transfer_out',
] as const;

/**
 * Internal `POST /internal/events/stock-movement` body (worker → accounting, service identity of
 * `payload.tenant_id`). `value = |quantity| × unit_cost` in minor units.
 */
export const stockMovementPostingRequest = z.object({
  event_id: uuid(),
  payload: z.object({
    movement_id: uuid(),
    tenant_id: uuid(),
    type: z.enum(STOCK_MOVEMENT_TYPES),
    product_id: uuid(),
    warehouse_id: uuid(),
    quantity: int(),
    unit_cost: nonNegativeInt(),
    value: z
      .number()
      .int()
      .min(0)
      .max(MAX_INT * 1000),
    occurred_at: z.iso.datetime({ offset: true }),
    reference: z.string().max(1000).nullable().optional(),
  }),
});
export type StockMovementPostingRequest = z.infer<typeof stockMovementPostingRequest>;

/** Answer of the stock movement consumer: the entry posted (or `null` when nothing posts) and whether it was a redelivery. */
export const stockMovementPostingResult = z.object({ entry_id: uuid().nullable(), duplicate: z.boolean() });
export type StockMovementPostingResult = z.infer<typeof stockMovementPostingResult>;

/** Entity types whose audit events the accounting service holds. */
export const ACCOUNTING_AUDIT_ENTITY_TYPES = ['account', 'journal_entry', 'period'] as const;

/** Accounting's own `GET /v1/audit-events?entity_type=&entity_id=&limit=&cursor=` query. */
export const accountingAuditQuery = listQuery.extend({
  entity_type: z.enum(ACCOUNTING_AUDIT_ENTITY_TYPES).optional(),
  entity_id: text(200).optional(),
});

/**
 * The accounting service's slice of `GET /v1/audit-events` (`audit:read`). Not part of {@link accountingRoutes}:
 * the public route belongs to the gateway, which routes by `entity_type` and merges the three services.
 */
export const accountingAuditRoute: RouteSpec = {
  method: 'get',
  path: '/v1/audit-events',
  upstream: 'accounting',
  access: 'audit:read',
  summary: 'Audit events of accounts, journal entries and periods',
  tag: 'audit',
  query: accountingAuditQuery,
  responses: {
    200: page(
      z.object({
        id: uuid(),
        actor_id: uuid().nullable(),
        action: z.string(),
        entity_type: z.string(),
        entity_id: z.string(),
        request_id: z.string().nullable(),
        at: timestamp(),
        changes: z.record(z.string(), z.unknown()),
      }),
    ),
  },
};

/** Public routes of the accounting area (schemas above, route table below). */
export const accountingRoutes: RouteSpec[] = defineRoutes([
  {
    method: 'post',
    path: '/v1/accounts',
    upstream: 'accounting',
    access: 'accounting:post',
    summary: 'Create an account',
    tag: 'accounting',
    body: createAccountBody,
    responses: { 201: accountSchema },
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/accounts',
    upstream: 'accounting',
    access: 'accounting:read',
    summary: 'List accounts (ordered by code)',
    tag: 'accounting',
    query: accountListQuery,
    responses: { 200: page(accountSchema) },
  },
  {
    method: 'get',
    path: '/v1/accounts/:id',
    upstream: 'accounting',
    access: 'accounting:read',
    summary: 'Get an account with its balance',
    tag: 'accounting',
    params: idParams,
    responses: { 200: accountWithBalanceSchema },
  },
  {
    method: 'post',
    path: '/v1/journal-entries',
    upstream: 'accounting',
    access: 'accounting:post',
    summary: 'Post a balanced journal entry',
    tag: 'accounting',
    body: postJournalEntryBody,
    responses: { 201: journalEntrySchema },
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/journal-entries',
    upstream: 'accounting',
    access: 'accounting:read',
    summary: 'List journal entries',
    tag: 'accounting',
    query: journalEntryListQuery,
    responses: { 200: page(journalEntrySchema) },
  },
  {
    method: 'get',
    path: '/v1/journal-entries/:id',
    upstream: 'accounting',
    access: 'accounting:read',
    summary: 'Get a journal entry',
    tag: 'accounting',
    params: idParams,
    responses: { 200: journalEntrySchema },
  },
  {
    method: 'post',
    path: '/v1/journal-entries/:id/reverse',
    upstream: 'accounting',
    access: 'accounting:post',
    summary: 'Reverse a journal entry (once)',
    tag: 'accounting',
    params: idParams,
    body: reverseJournalEntryBody,
    responses: { 201: journalEntrySchema },
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/trial-balance',
    upstream: 'accounting',
    access: 'accounting:read',
    summary: 'Trial balance as of a date',
    tag: 'accounting',
    query: trialBalanceQuery,
    responses: { 200: trialBalanceSchema },
  },
  {
    method: 'post',
    path: '/v1/periods/:period/close',
    upstream: 'accounting',
    access: 'accounting:close',
    summary: 'Close a fiscal period (YYYY-MM)',
    tag: 'accounting',
    params: periodParams,
    responses: { 200: periodCloseSchema },
    idempotent: true,
  },
]);
