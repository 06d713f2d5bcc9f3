import type { Express } from 'express';
import {
  accountingAuditQuery,
  accountingAuditRoute,
  accountListQuery,
  createAccountBody,
  idParams,
  journalEntryListQuery,
  periodParams,
  postJournalEntryBody,
  reverseJournalEntryBody,
  trialBalanceQuery,
} from '@kv/api-contract';
import { listAudit } from '@kv/audit';
import { parseOrThrow, parseParamsOrNotFound } from '@kv/http';
import type { AppDeps } from '../deps';
import { createAccount, getAccount, listAccountsPage } from '../domain/accounts';
import { getEntry, listEntriesPage, postManualEntry, reverseEntry, trialBalance } from '../domain/ledger';
import { closePeriod } from '../domain/periods';
import { commandOf, identityOf, mount, sendResult, specOf } from './mount';

/** The contract's accounting routes plus this service's slice of `GET /v1/audit-events`. */
export function mountAccountingRoutes(app: Express, deps: AppDeps): void {
  const { uow } = deps;

  mount(app, specOf('post', '/v1/accounts'), async (req, res) => {
    const ctx = identityOf(res);
    const command = commandOf(req, 201);
    const body = parseOrThrow(createAccountBody, req.body);
    sendResult(res, await uow.command(ctx, command, (trx) => createAccount(trx, ctx, body)));
  });

  mount(app, specOf('get', '/v1/accounts'), async (req, res) => {
    const ctx = identityOf(res);
    const query = parseOrThrow(accountListQuery, req.query, 'query');
    res.json(await uow.read(ctx, (trx) => listAccountsPage(trx, ctx.tenantId, query)));
  });

  mount(app, specOf('get', '/v1/accounts/:id'), async (req, res) => {
    const ctx = identityOf(res);
    const { id } = parseParamsOrNotFound(idParams, req.params, 'account');
    res.json(await uow.read(ctx, (trx) => getAccount(trx, ctx.tenantId, id)));
  });

  mount(app, specOf('post', '/v1/journal-entries'), async (req, res) => {
    const ctx = identityOf(res);
    const command = commandOf(req, 201);
    const body = parseOrThrow(postJournalEntryBody, req.body);
    // Without an idempotency key there is nothing else to store with the entry: one statement, one round trip.
    const result =
      command.idempotencyKey === undefined
        ? {
            status: 201,
            body: await uow.autocommit(ctx, (db) => postManualEntry(db, ctx, body)),
            replayed: false,
          }
        : await uow.command(ctx, command, (trx) => postManualEntry(trx, ctx, body));
    if (!result.replayed) deps.appMetrics.entriesPosted.inc({ kind: 'manual' });
    sendResult(res, result);
  });

  mount(app, specOf('get', '/v1/journal-entries'), async (req, res) => {
    const ctx = identityOf(res);
    const query = parseOrThrow(journalEntryListQuery, req.query, 'query');
    res.json(await uow.read(ctx, (trx) => listEntriesPage(trx, ctx.tenantId, query)));
  });

  mount(app, specOf('get', '/v1/journal-entries/:id'), async (req, res) => {
    const ctx = identityOf(res);
    const { id } = parseParamsOrNotFound(idParams, req.params, 'journal entry');
    res.json(await uow.read(ctx, (trx) => getEntry(trx, ctx.tenantId, id)));
  });

  mount(app, specOf('post', '/v1/journal-entries/:id/reverse'), async (req, res) => {
    const ctx = identityOf(res);
    const command = commandOf(req, 201);
    const body = parseOrThrow(reverseJournalEntryBody, req.body ?? {});
    const { id } = parseParamsOrNotFound(idParams, req.params, 'journal entry');
    const result = await uow.command(ctx, command, (trx) => reverseEntry(trx, ctx, id, body.date));
    if (!result.replayed) deps.appMetrics.entriesPosted.inc({ kind: 'reversal' });
    sendResult(res, result);
  });

  mount(app, specOf('get', '/v1/trial-balance'), async (req, res) => {
    const ctx = identityOf(res);
    const query = parseOrThrow(trialBalanceQuery, req.query, 'query');
    res.json(await uow.read(ctx, (trx) => trialBalance(trx, ctx.tenantId, query.as_of)));
  });

  mount(app, specOf('post', '/v1/periods/:period/close'), async (req, res) => {
    const ctx = identityOf(res);
    const command = commandOf(req, 200);
    const { period } = parseOrThrow(periodParams, req.params, 'path');
    const result = await closePeriod(
      {
        locks: deps.locks,
        uow,
        settings: deps.periodClose,
        locksReachable: () => deps.redis.status === 'ready',
      },
      ctx,
      period,
      command,
    );
    deps.appMetrics.periodCloses.inc({ result: result.replayed ? 'replayed' : 'closed' });
    sendResult(res, result);
  });

  mount(app, accountingAuditRoute, async (req, res) => {
    const ctx = identityOf(res);
    const query = parseOrThrow(accountingAuditQuery, req.query, 'query');
    res.json(
      await uow.read(ctx, (trx) =>
        listAudit(trx, 'accounting', {
          entityType: query.entity_type,
          entityId: query.entity_id,
          limit: query.limit,
          cursor: query.cursor,
        }),
      ),
    );
  });
}
