import { accountId, productId } from './ids';
import { newKey, type HttpClient } from './http';
import type { Outcome } from './load';
import type { Session } from './seed';

/** A random element. */
export const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const rand1 = (n: number) => 1 + Math.floor(Math.random() * n);

/** Reservations last a day, so the expiry sweep never releases bench reservations while the bench runs. */
export const BENCH_TTL_S = 86_400;

/** Counters a reservation load keeps beside the latencies. */
export interface ReserveCounters {
  /** Requests re-sent with the same key and body. */
  replays: number;
  /** Of those, answered 201 with `Idempotent-Replayed: true`. */
  replaysMarked: number;
  /** A response carried the rate-limit headers (the limiter ran). */
  rateLimitHeaders: boolean;
}

/** The reservation body for `s`, one line of 1 unit on a random SKU of 1..skus. */
export function reservationBody(s: Session, skus: number): Record<string, unknown> {
  return {
    warehouse_id: s.warehouseId,
    lines: [{ product_id: productId(s.n, rand1(skus)), quantity: 1 }],
    ttl_seconds: BENCH_TTL_S,
  };
}

/**
 * `POST /v1/reservations` (with a fresh Idempotency-Key) as a random session, on a random SKU of 1..skus.
 * Every `replayEvery`-th operation re-sends that worker's previous request (same key, same body) and expects
 * the stored 201 with `Idempotent-Replayed: true`.
 */
export function reserveOp(
  sessions: readonly Session[],
  skus: number,
  counters: ReserveCounters,
  replayEvery = 0,
): (http: HttpClient, w: number) => Promise<Outcome> {
  const last = new Map<number, { s: Session; key: string; body: Record<string, unknown> }>();
  let ops = 0;
  return async (http, w) => {
    const prev = last.get(w);
    if (replayEvery > 0 && prev && ++ops % replayEvery === 0) {
      const r = await http.call('POST', '/v1/reservations', {
        token: prev.s.token,
        idempotencyKey: prev.key,
        body: prev.body,
        parse: false,
      });
      counters.replays++;
      if (r.status !== 201) return String(r.status);
      if (r.headers['idempotent-replayed'] !== 'true') return 'replay-not-marked';
      counters.replaysMarked++;
      return null;
    }
    const s = pick(sessions);
    const body = reservationBody(s, skus);
    const key = newKey();
    const r = await http.call('POST', '/v1/reservations', {
      token: s.token,
      idempotencyKey: key,
      body,
      parse: false,
    });
    if (!counters.rateLimitHeaders && (r.headers['ratelimit'] || r.headers['x-ratelimit-limit']))
      counters.rateLimitHeaders = true;
    // Only a stored (2xx) response is replayed; a failed request is evaluated anew on retry (the contract).
    if (r.status === 201) last.set(w, { s, key, body });
    else last.delete(w);
    return r.status === 201 ? null : String(r.status);
  };
}

/**
 * One reserve → commit flow (two POSTs with keys). Each commit ships 1 unit at average cost 100, so
 * accounting must end up with exactly 100 more on account 5000 of that tenant: `expectedCogs` counts it.
 */
export function commitFlowOp(
  sessions: readonly Session[],
  skus: number,
  expectedCogs: Map<number, number>,
): (http: HttpClient) => Promise<Outcome> {
  return async (http) => {
    const s = pick(sessions);
    const r = await http.call('POST', '/v1/reservations', {
      token: s.token,
      idempotencyKey: newKey(),
      body: reservationBody(s, skus),
    });
    if (r.status !== 201) return `reserve:${r.status}`;
    const id = (r.body as { id?: string }).id;
    const c = await http.call('POST', `/v1/reservations/${id}/commit`, {
      token: s.token,
      idempotencyKey: newKey(),
      parse: false,
    });
    if (c.status !== 200) return `commit:${c.status}`;
    expectedCogs.set(s.n, (expectedCogs.get(s.n) ?? 0) + 100);
    return null;
  };
}

/** Today in UTC, `YYYY-MM-DD`. */
export const todayUtc = (): string => new Date().toISOString().slice(0, 10);

/** `POST /v1/journal-entries` (with a key): Dr bench account i / Cr account j ≠ i, of 1..accts. */
export function journalOp(
  sessions: readonly Session[],
  accts: number,
): (http: HttpClient) => Promise<Outcome> {
  return async (http) => {
    const s = pick(sessions);
    const i = rand1(accts);
    const j = 1 + ((i + Math.floor(Math.random() * (accts - 1))) % accts);
    const amount = rand1(100_000);
    const r = await http.call('POST', '/v1/journal-entries', {
      token: s.token,
      idempotencyKey: newKey(),
      body: {
        date: todayUtc(),
        memo: 'bench',
        lines: [
          { account_id: accountId(s.n, i), debit: amount, credit: 0 },
          { account_id: accountId(s.n, j), debit: 0, credit: amount },
        ],
      },
      parse: false,
    });
    return r.status === 201 ? null : String(r.status);
  };
}

/** Weights of the read mix (percent). */
export const READ_MIX = { stock: 40, product: 25, account: 20, journal: 15 };

/** A read from the mix: stock level, product, account with balance, or the newest 20 journal entries. */
export function readMixOp(
  sessions: readonly Session[],
  skus: number,
  accts: number,
): (http: HttpClient) => Promise<Outcome> {
  return async (http) => {
    const s = pick(sessions);
    const x = Math.random() * 100;
    let path: string;
    if (x < READ_MIX.stock)
      path = `/v1/stock?product_id=${productId(s.n, rand1(skus))}&warehouse_id=${s.warehouseId}`;
    else if (x < READ_MIX.stock + READ_MIX.product) path = `/v1/products/${productId(s.n, rand1(skus))}`;
    else if (x < READ_MIX.stock + READ_MIX.product + READ_MIX.account)
      path = `/v1/accounts/${accountId(s.n, rand1(accts))}`;
    else path = '/v1/journal-entries?limit=20';
    const r = await http.call('GET', path, { token: s.token, parse: false });
    return r.status === 200 ? null : String(r.status);
  };
}

/** `GET /health/live`: no auth, no database. */
export function healthOp(): (http: HttpClient) => Promise<Outcome> {
  return async (http) => {
    const r = await http.call('GET', '/health/live', { parse: false });
    return r.status === 200 ? null : String(r.status);
  };
}
