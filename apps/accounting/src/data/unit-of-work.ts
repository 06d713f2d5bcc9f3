import type { Knex } from 'knex';
import type { DbRouter } from '@kv/db-router';
import { withIdempotency, type IdempotentResult } from '@kv/idempotency';
import { withTenantTransaction, type TenantContext } from '@kv/tenant-context';
import { isRetryableDbError, toAppError } from './db-errors';
import type { WritePositions } from './read-your-writes';

/** A state-changing request: its idempotency scope and the status its success answers with. */
export interface CommandRequest {
  /** `Idempotency-Key`, already validated; undefined = none. */
  idempotencyKey: string | undefined;
  method: string;
  path: string;
  body: unknown;
  /** Success status stored with the response (e.g. 201). */
  status: number;
}

/** Transactions with tenant scope, retries, error mapping, idempotency and read routing. */
export interface UnitOfWork {
  /**
   * Runs `work` in one tenant transaction on the primary, after the idempotency key (if any) is claimed in it,
   * storing the response with the effect. A replay returns the stored response without running `work`.
   * Deadlocks and serialization failures are retried.
   * @throws AppError for every expected failure (database errors are mapped, e.g. 503 when it is down).
   */
  command(
    ctx: TenantContext,
    request: CommandRequest,
    work: (trx: Knex.Transaction) => Promise<unknown>,
  ): Promise<IdempotentResult>;
  /**
   * Runs `work` on the primary pool WITHOUT a transaction block: for a write that is one statement which sets the
   * tenant itself (its implicit transaction is the unit of work), e.g. a posting without an idempotency key, in one
   * round trip. Deadlocks are retried; errors are mapped like {@link command}.
   */
  autocommit<T>(ctx: Pick<TenantContext, 'tenantId' | 'userId'>, work: (db: Knex) => Promise<T>): Promise<T>;
  /** Like {@link command} without an idempotency key (internal writes, bootstrap). */
  write<T>(
    ctx: Pick<TenantContext, 'tenantId' | 'userId'>,
    work: (trx: Knex.Transaction) => Promise<T>,
  ): Promise<T>;
  /**
   * Runs a read-only tenant transaction on a replica that has this user's last write, else the primary
   * (the work may run twice: once on a replica that failed, once on the primary).
   */
  read<T>(
    ctx: Pick<TenantContext, 'tenantId' | 'userId'>,
    work: (trx: Knex.Transaction) => Promise<T>,
  ): Promise<T>;
  /** Runs a read-only tenant transaction on the primary (reads that decide a write). */
  readPrimary<T>(
    ctx: Pick<TenantContext, 'tenantId' | 'userId'>,
    work: (trx: Knex.Transaction) => Promise<T>,
  ): Promise<T>;
  /**
   * Resolves once no unit of work is running (or after `timeoutMs`), so shutdown closes the pools only after
   * in-flight transactions ended: a client that disconnected does not stop its request's transaction.
   */
  drain(timeoutMs: number): Promise<void>;
  /** Units of work running now (waiting for a connection included). */
  active(): number;
}

/** Options of {@link createUnitOfWork}. */
export interface UnitOfWorkOptions {
  router: DbRouter;
  positions: WritePositions;
  /** Qualified idempotency table. */
  idempotencyTable: string;
  /** Attempts for deadlocks/serialization failures; default 3. */
  attempts?: number;
}

function mapError(err: unknown): unknown {
  return toAppError(err) ?? err;
}

/** Creates the unit of work over a {@link DbRouter}. */
export function createUnitOfWork(options: UnitOfWorkOptions): UnitOfWork {
  const attempts = options.attempts ?? 3;
  const { router, positions } = options;
  let active = 0;
  let idle: (() => void)[] = [];
  async function tracked<T>(fn: () => Promise<T>): Promise<T> {
    active++;
    try {
      return await fn();
    } finally {
      active--;
      if (active === 0) {
        const waiting = idle;
        idle = [];
        waiting.forEach((resolve) => resolve());
      }
    }
  }

  async function retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt < attempts && isRetryableDbError(err)) continue;
        throw mapError(err);
      }
    }
  }

  return {
    command: (ctx, request, work) =>
      tracked(async () => {
        const result = await retrying(() =>
          withTenantTransaction(
            router.writer(),
            (trx) =>
              withIdempotency(
                trx,
                {
                  key: request.idempotencyKey,
                  tenantId: ctx.tenantId,
                  method: request.method,
                  path: request.path,
                  body: request.body,
                },
                { table: options.idempotencyTable },
                async () => ({ status: request.status, body: await work(trx) }),
              ),
            ctx,
          ),
        );
        if (!result.replayed) await positions.recordWrite(ctx.tenantId, ctx.userId);
        return result;
      }),
    autocommit: (ctx, work) =>
      tracked(async () => {
        const value = await retrying(() => work(router.writer()));
        await positions.recordWrite(ctx.tenantId, ctx.userId);
        return value;
      }),
    write: (ctx, work) =>
      tracked(async () => {
        const value = await retrying(() => withTenantTransaction(router.writer(), work, ctx));
        await positions.recordWrite(ctx.tenantId, ctx.userId);
        return value;
      }),
    read: (ctx, work) =>
      tracked(async () => {
        const target = await positions.readTargetFor(ctx.tenantId, ctx.userId);
        const run = (db: Knex) => withTenantTransaction(db, work, ctx, { readOnly: true });
        try {
          if (target.kind === 'primary') return await run(router.writer());
          return await router.read(run, target.kind === 'lsn' ? { minLsn: target.lsn } : {});
        } catch (err) {
          throw mapError(err);
        }
      }),
    readPrimary: (ctx, work) =>
      tracked(async () => {
        try {
          return await withTenantTransaction(router.writer(), work, ctx, { readOnly: true });
        } catch (err) {
          throw mapError(err);
        }
      }),
    active: () => active,
    drain(timeoutMs) {
      if (active === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        idle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
