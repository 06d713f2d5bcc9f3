import { parseIdempotencyKey, withIdempotency } from '@kv/idempotency';
import { requireContext, withTenantTransaction, type TenantContext } from '@kv/tenant-context';
import type { Request, Response } from 'express';
import type { Knex } from 'knex';
import { T } from '../data/schema';

/** The databases routes use. */
export interface RouteDb {
  /** Primary, as `kv_app`: every write and every stock decision. */
  writer: Knex;
  /** Runs a plain read for this identity (on a replica that has caught up with its writes, or the primary). */
  read: <T>(ctx: TenantContext, fn: (knex: Knex) => Promise<T>) => Promise<T>;
  /** Called after a committed write, so that identity's later reads see it. */
  afterWrite?: (ctx: TenantContext) => Promise<void> | void;
}

/** The concrete request path, which scopes idempotency keys together with tenant and method. */
const pathOf = (req: Request): string => `${req.baseUrl}${req.path}`;

/**
 * Runs a change in one tenant transaction on the primary: `check` (plain reads: 404, then attribute 403),
 * then the idempotency key (first lock taken), then `apply`; the response is stored with the effect.
 * Replays answer the stored status and body with `Idempotent-Replayed: true`.
 */
export async function respondMutation<T>(
  db: RouteDb,
  req: Request,
  res: Response,
  status: number,
  check: (trx: Knex.Transaction, ctx: TenantContext) => Promise<void>,
  apply: (trx: Knex.Transaction, ctx: TenantContext) => Promise<T>,
): Promise<void> {
  const ctx = requireContext();
  const key = parseIdempotencyKey(req.headers['idempotency-key']);
  const result = await withTenantTransaction(
    db.writer,
    async (trx) => {
      await check(trx, ctx);
      return withIdempotency(
        trx,
        {
          key,
          tenantId: ctx.tenantId,
          method: req.method,
          path: pathOf(req),
          body: (req.body as unknown) ?? null,
        },
        { table: T.idempotencyKeys },
        async () => ({ status, body: await apply(trx, ctx) }),
      );
    },
    ctx,
  );
  if (!result.replayed) await db.afterWrite?.(ctx);
  if (result.replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(result.status).json(result.body);
}

/** Runs a plain read in a read-only tenant transaction on the reader chosen for this identity. */
export async function respondRead<T>(
  db: RouteDb,
  res: Response,
  read: (trx: Knex.Transaction, ctx: TenantContext) => Promise<T>,
): Promise<void> {
  const ctx = requireContext();
  const body = await db.read(ctx, (knex) =>
    withTenantTransaction(knex, (trx) => read(trx, ctx), ctx, { readOnly: true }),
  );
  res.status(200).json(body);
}
