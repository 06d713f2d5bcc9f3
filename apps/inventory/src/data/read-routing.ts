import type { DbRouter } from '@kv/db-router';
import { maxLsn } from '@kv/db-router';
import type { Logger } from '@kv/logger';
import { errorFields } from '@kv/logger';
import type { TenantContext } from '@kv/tenant-context';
import type { Knex } from 'knex';

/** Where plain reads go, with read-your-writes per identity. */
export interface ReadRouting {
  /** Runs a pure read (it may run twice) on a replica that has replayed this identity's last write, else the primary. */
  read<T>(ctx: TenantContext, fn: (knex: Knex) => Promise<T>): Promise<T>;
  /** Call after a committed write: later reads of this identity wait for a replica that has replayed it. */
  afterWrite(ctx: TenantContext): Promise<void>;
}

export interface ReadRoutingOptions {
  /** How long a write pins the identity's reads to replicas past it, in ms; default 30 000 (well above `maxLagMs`). */
  rememberMs?: number;
  /** Most identities remembered (oldest dropped first); default 10 000. */
  maxEntries?: number;
  logger?: Logger;
}

interface Remembered {
  /** `undefined` when the LSN could not be read: reads then go to the primary until `until`. */
  lsn: string | undefined;
  until: number;
}

/**
 * Read routing over `@kv/db-router`. The last-write LSN is kept per (tenant, user) in this process only: a
 * user whose next read lands on another instance may read from a replica that has not caught up yet (the
 * gateway would have to carry the LSN, or a shared store, to close that; inventory uses no Redis).
 */
export function createReadRouting(router: DbRouter, options: ReadRoutingOptions = {}): ReadRouting {
  const rememberMs = options.rememberMs ?? 30_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const lastWrite = new Map<string, Remembered>();
  const keyOf = (ctx: TenantContext) => `${ctx.tenantId}:${ctx.userId ?? ''}`;
  return {
    read(ctx, fn) {
      const key = keyOf(ctx);
      const entry = lastWrite.get(key);
      if (entry && entry.until < Date.now()) lastWrite.delete(key);
      if (!entry || entry.until < Date.now()) return router.read(fn);
      if (entry.lsn === undefined) return fn(router.writer());
      return router.read(fn, { minLsn: entry.lsn });
    },
    async afterWrite(ctx) {
      const key = keyOf(ctx);
      const previous = lastWrite.get(key);
      let lsn: string | undefined;
      try {
        lsn = maxLsn(previous?.lsn, await router.currentLsn());
      } catch (err) {
        options.logger?.warn(
          'could not read the primary LSN; this user reads from the primary for a while',
          errorFields(err),
        );
      }
      lastWrite.delete(key);
      lastWrite.set(key, { lsn, until: Date.now() + rememberMs });
      if (lastWrite.size > maxEntries) {
        const oldest = lastWrite.keys().next().value;
        if (oldest !== undefined) lastWrite.delete(oldest);
      }
    },
  };
}
