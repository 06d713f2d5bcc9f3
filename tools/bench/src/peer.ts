import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { Pool, type PoolClient } from 'pg';
import { productId } from './ids';
import { runLoad, type Outcome, type Progress } from './load';
import type { PhaseStats } from './stats';

/** Which design a direct-to-database reservation run uses. */
export type DirectDesign = 'peer' | 'ours';

export interface DirectOptions {
  design: DirectDesign;
  /** kv_app URL (row-level security applies, as in the services). */
  appUrl: string;
  redisUrl: string;
  /** Redis key prefix of the locks. */
  prefix: string;
  tenant: { n: number; tenantId: string; warehouseId: string; userId: string };
  /** SKUs 1..skus (1 = one hot SKU). */
  skus: number;
  /** Concurrent callers (like the API phase's connections) and database pool size (like a service's). */
  workers: number;
  poolSize: number;
  durationS: number;
  warmupS: number;
  progress: Progress;
  label: string;
  /** Called when the warm-up ends. */
  onMeasureStart?: () => void;
}

/** Lock lease (ms) and the pause between attempts to take a held lock (Laravel's `block()` waits 250 ms). */
const LOCK_TTL_MS = 5000;
const LOCK_RETRY_MS = 10;
const LOCK_WAIT_MS = 10_000;

// Compare-and-delete: the fixed form of the seed's unlock (it DELeted whatever lock was there).
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

async function inTenant<T>(pool: Pool, o: DirectOptions, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query(`SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true)`, [
      o.tenant.tenantId,
      o.tenant.userId,
    ]);
    const result = await fn(c);
    await c.query('COMMIT');
    return result;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

const INSERT_RESERVATION = `
  WITH r AS (
    INSERT INTO inventory.reservations (tenant_id, id, warehouse_id, status, expires_at, created_by)
    VALUES ($1, $2, $3, 'active', now() + make_interval(secs => 86400), $4)
    RETURNING id
  ), l AS (
    INSERT INTO inventory.reservation_lines (tenant_id, reservation_id, product_id, quantity) SELECT $1, id, $5, 1 FROM r
  )
  INSERT INTO inventory.audit_events (tenant_id, actor_id, action, entity_type, entity_id, request_id, changes)
  SELECT $1, $4, 'reservation.create', 'reservation', id::text, 'peer-bench', jsonb_build_object('product_id', $5::text, 'quantity', 1)
    FROM r`;

// The service's single-line reservation (reserveOneLine): the conditional UPDATE and the inserts in ONE
// statement, so the stock row stays locked only from that statement to COMMIT.
const RESERVE_ONE_STATEMENT = `
  WITH upd AS (
    UPDATE inventory.stock_levels SET reserved = reserved + 1
     WHERE tenant_id = $1 AND product_id = $2 AND warehouse_id = $3 AND on_hand - reserved >= 1
    RETURNING 1
  ), r AS (
    INSERT INTO inventory.reservations (tenant_id, id, warehouse_id, status, expires_at, created_by)
    SELECT $1, $4, $3, 'active', now() + make_interval(secs => 86400), $5 WHERE EXISTS (SELECT 1 FROM upd)
    RETURNING id
  ), l AS (
    INSERT INTO inventory.reservation_lines (tenant_id, reservation_id, product_id, quantity) SELECT $1, id, $2, 1 FROM r
  ), a AS (
    INSERT INTO inventory.audit_events (tenant_id, actor_id, action, entity_type, entity_id, request_id, changes)
    SELECT $1, $5, 'reservation.create', 'reservation', id::text, 'peer-bench', jsonb_build_object('product_id', $2::text, 'quantity', 1)
      FROM r
  )
  SELECT (SELECT id FROM r) AS id`;

/**
 * One reservation of 1 unit straight against PostgreSQL (no HTTP), in one of two designs, on the same rows:
 *
 * - `peer` — the seed's design, with its bugs fixed: take a Redis lock per SKU (SET NX PX with a token,
 *   retried every 10 ms), then `SELECT ... FOR UPDATE` the stock row, check availability in Node, write the
 *   new `reserved` value back, insert the reservation, commit, release the lock (compare-and-delete).
 * - `ours` — this system's design: no lock; the conditional `UPDATE ... WHERE on_hand - reserved >= 1` and the
 *   inserts in one statement (as the inventory service sends it), in one transaction.
 */
export async function runDirect(o: DirectOptions): Promise<PhaseStats> {
  const pool = new Pool({ connectionString: o.appUrl, max: o.poolSize });
  // A connection the server ends (restart, pg_terminate_backend) must not crash the run: the query in flight
  // fails (counted as an error), and the 'error' events of idle and checked-out clients are absorbed.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
  redis.on('error', () => undefined);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const pick = () => productId(o.tenant.n, 1 + Math.floor(Math.random() * o.skus));

  const peer = async (): Promise<Outcome> => {
    const product = pick();
    const key = `${o.prefix}lock:${o.tenant.tenantId}:sku:${product}`;
    const token = randomUUID();
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await redis.set(key, token, 'PX', LOCK_TTL_MS, 'NX')) !== 'OK') {
      if (Date.now() > deadline) return 'lock-timeout';
      await sleep(LOCK_RETRY_MS * (0.5 + Math.random()));
    }
    try {
      return await inTenant(pool, o, async (c) => {
        const { rows } = await c.query<{ on_hand: string; reserved: string }>(
          `SELECT on_hand, reserved FROM inventory.stock_levels
            WHERE tenant_id = $1 AND product_id = $2 AND warehouse_id = $3 FOR UPDATE`,
          [o.tenant.tenantId, product, o.tenant.warehouseId],
        );
        const row = rows[0];
        if (!row || Number(row.on_hand) - Number(row.reserved) < 1) return 'insufficient-stock';
        await c.query(
          `UPDATE inventory.stock_levels SET reserved = $4 WHERE tenant_id = $1 AND product_id = $2 AND warehouse_id = $3`,
          [o.tenant.tenantId, product, o.tenant.warehouseId, Number(row.reserved) + 1],
        );
        await c.query(INSERT_RESERVATION, [
          o.tenant.tenantId,
          randomUUID(),
          o.tenant.warehouseId,
          o.tenant.userId,
          product,
        ]);
        return null;
      });
    } finally {
      await redis.eval(RELEASE, 1, key, token);
    }
  };

  const ours = async (): Promise<Outcome> => {
    const product = pick();
    return inTenant(pool, o, async (c) => {
      const { rows } = await c.query<{ id: string | null }>(RESERVE_ONE_STATEMENT, [
        o.tenant.tenantId,
        product,
        o.tenant.warehouseId,
        randomUUID(),
        o.tenant.userId,
      ]);
      return rows[0]?.id ? null : 'insufficient-stock';
    });
  };

  try {
    return await runLoad({
      label: o.label,
      workers: o.workers,
      durationS: o.durationS,
      warmupS: o.warmupS,
      progress: o.progress,
      op: o.design === 'peer' ? peer : ours,
      ...(o.onMeasureStart ? { onMeasureStart: o.onMeasureStart } : {}),
    });
  } finally {
    redis.disconnect();
    await pool.end();
  }
}
