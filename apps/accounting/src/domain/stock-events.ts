import { randomUUID } from 'node:crypto';
import type { StockMovementPostingRequest, StockMovementPostingResult } from '@kv/api-contract';
import { AppError, errors, isAppError } from '@kv/errors';
import type { TenantContext } from '@kv/tenant-context';
import { findEntryIdBySource } from '../data/journal';
import { findEvent, recordEvent } from '../data/events';
import { closedPeriodsFrom } from '../data/periods';
import type { UnitOfWork } from '../data/unit-of-work';
import { firstDayOf, firstOpenPeriod, periodOf, utcDateOf } from './dates';
import { postEntry } from './ledger';
import { movementMemo, postingForMovement } from './stock-movements';
import type { TenantBootstrap } from './tenants';

/** Topic of inventory's stock movement events. */
export const STOCK_MOVEMENT_TOPIC = 'inventory.stock_movement';

/** A posting that lost a race with a period close is re-dated this many times before giving up (503). */
const PERIOD_RACE_ATTEMPTS = 5;

/**
 * Applies one stock movement event exactly once: the `processed_events` row and the entry are written in one
 * transaction, so a redelivery (even concurrent) answers `duplicate: true` with the same entry id. Dated the
 * movement's UTC date, or the first day of the next open period when that one is closed.
 * @throws AppError VALIDATION_ERROR when the payload's tenant is not the caller's.
 */
export async function consumeStockMovement(
  deps: { uow: UnitOfWork; bootstrap: TenantBootstrap },
  ctx: TenantContext,
  event: StockMovementPostingRequest,
): Promise<StockMovementPostingResult> {
  const { payload } = event;
  if (payload.tenant_id !== ctx.tenantId) {
    throw errors.validation([
      { path: 'payload.tenant_id', message: "must be the calling identity's tenant" },
    ]);
  }
  const posting = postingForMovement(payload);
  const movementDate = utcDateOf(payload.occurred_at);
  const system = { tenantId: ctx.tenantId, userId: null, requestId: ctx.requestId };
  for (let attempt = 1; ; attempt++) {
    try {
      return await deps.uow.write(system, async (trx) => {
        const source = { type: 'stock_movement' as const, id: payload.movement_id };
        // The same movement under another event id (should not happen: event id = movement id) is a duplicate too.
        const existingEntry = posting ? await findEntryIdBySource(trx, ctx.tenantId, source) : undefined;
        const entryId = posting ? (existingEntry ?? randomUUID()) : null;
        const fresh = await recordEvent(trx, {
          tenantId: ctx.tenantId,
          eventId: event.event_id,
          topic: STOCK_MOVEMENT_TOPIC,
          entryId,
        });
        if (!fresh) {
          const seen = await findEvent(trx, ctx.tenantId, event.event_id);
          return { entry_id: seen?.entryId ?? null, duplicate: true };
        }
        if (!posting) return { entry_id: null, duplicate: false };
        if (existingEntry) return { entry_id: existingEntry, duplicate: true };
        const ids = await deps.bootstrap.systemAccountIds(trx, ctx.tenantId);
        const period = periodOf(movementDate);
        const open = firstOpenPeriod(period, await closedPeriodsFrom(trx, ctx.tenantId, period));
        const date = open === period ? movementDate : firstDayOf(open);
        const entry = await postEntry(
          trx,
          system,
          {
            date,
            memo: movementMemo(payload),
            lines: [
              { accountId: ids.get(posting.debit)!, debit: posting.amount, credit: 0 },
              { accountId: ids.get(posting.credit)!, debit: 0, credit: posting.amount },
            ],
            source,
            reversalOf: null,
          },
          [],
          entryId ?? undefined,
        );
        return { entry_id: entry.id, duplicate: false };
      });
    } catch (err) {
      // A close committed between reading the closed periods and the insert: read them again.
      if (isAppError(err) && err.code === 'PERIOD_CLOSED' && attempt < PERIOD_RACE_ATTEMPTS) continue;
      if (isAppError(err) && err.code === 'PERIOD_CLOSED') {
        throw new AppError('UNAVAILABLE', 'Periods kept closing while posting; retry later.', { cause: err });
      }
      throw err;
    }
  }
}
