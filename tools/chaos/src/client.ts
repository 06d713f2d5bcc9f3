import { setTimeout as sleep } from 'node:timers/promises';

/** A JSON object as the API returns it. */
export interface Json {
  [key: string]: unknown;
}

/** What one HTTP attempt ended with: a status code, a client timeout, or a connection error. */
export type AttemptStatus = number | 'timeout' | 'network';

/** One HTTP attempt, as the fault/5xx analysis needs it. */
export interface ResponseEvent {
  /** When the response (or the failure) arrived, ms since the epoch. */
  at: number;
  /** When the attempt was sent, ms since the epoch. */
  sentAt: number;
  method: string;
  /** Route template, e.g. `POST /v1/reservations/:id/commit`. */
  route: string;
  status: AttemptStatus;
  /** problem+json `type` of an error response. */
  problem?: string;
  attempt: number;
  requestId: string;
}

/** The result of an operation after its retries. */
export type CallOutcome =
  | { kind: 'ok'; status: number; body: Json; replayed: boolean; attempts: number }
  | { kind: 'rejected'; status: number; problem: string | undefined; body: Json; attempts: number }
  | { kind: 'gave-up'; last: AttemptStatus; attempts: number };

/** Supplies and renews the bearer token of a caller. */
export interface Credentials {
  token(): string | undefined;
  /** Logs in again (after a 401); resolves when a new token is in place or it gave up. */
  renew(): Promise<void>;
}

export interface CallRequest {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  /** Route template for reports; default `METHOD path`. */
  route?: string;
  body?: unknown;
  /** Idempotency-Key, the same on every attempt (every POST under /v1 except auth carries one). */
  idempotencyKey?: string;
  /** Prefix of X-Request-Id; attempt n sends `<prefix>.<n>`. */
  requestId: string;
  credentials?: Credentials;
}

export interface ApiClientOptions {
  base: string;
  /** Timeout of one attempt, ms. */
  timeoutMs: number;
  /** How long an operation is retried before giving up, ms. */
  deadlineMs: number;
  /** Receives every attempt. */
  onResponse: (event: ResponseEvent) => void;
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);

function parseJson(text: string): Json {
  if (!text) return {};
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : { value: v };
  } catch {
    return { text: text.slice(0, 300) };
  }
}

/**
 * The chaos workload's HTTP client. It retries what a careful client retries, always with the same
 * Idempotency-Key: 503/502/504/429, client timeouts, connection errors, and 409 `idempotency-key-in-progress`
 * (the first attempt is still running somewhere). A 401 renews the token once per operation. Anything else
 * is the operation's answer.
 */
export class ApiClient {
  constructor(private readonly o: ApiClientOptions) {}

  /** One attempt, recorded through `onResponse`. */
  private async attempt(
    req: CallRequest,
    n: number,
  ): Promise<{ status: AttemptStatus; body: Json; headers?: Headers }> {
    const requestId = `${req.requestId}.${n}`;
    const headers: Record<string, string> = { 'x-request-id': requestId, accept: 'application/json' };
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    if (req.idempotencyKey) headers['idempotency-key'] = req.idempotencyKey;
    const token = req.credentials?.token();
    if (token) headers.authorization = `Bearer ${token}`;
    const sentAt = Date.now();
    let status: AttemptStatus;
    let body: Json = {};
    let resHeaders: Headers | undefined;
    try {
      const res = await fetch(`${this.o.base}${req.path}`, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      body = parseJson(await res.text());
      status = res.status;
      resHeaders = res.headers;
    } catch (err) {
      const name = err instanceof Error ? err.name : '';
      status = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network';
    }
    const problem =
      typeof status === 'number' && status >= 400 && typeof body.type === 'string' ? body.type : undefined;
    this.o.onResponse({
      at: Date.now(),
      sentAt,
      method: req.method,
      route: req.route ?? `${req.method} ${req.path}`,
      status,
      ...(problem ? { problem } : {}),
      attempt: n,
      requestId,
    });
    return { status, body, ...(resHeaders ? { headers: resHeaders } : {}) };
  }

  /** Runs `req` with retries until it gets an answer or the deadline passes. */
  async call(req: CallRequest): Promise<CallOutcome> {
    const deadline = Date.now() + this.o.deadlineMs;
    let renewed = false;
    for (let n = 1; ; n++) {
      const { status, body, headers } = await this.attempt(req, n);
      if (typeof status === 'number' && status >= 200 && status < 300) {
        return {
          kind: 'ok',
          status,
          body,
          replayed: headers?.get('idempotent-replayed') === 'true',
          attempts: n,
        };
      }
      const problem = typeof body.type === 'string' ? body.type : undefined;
      if (status === 401 && req.credentials && !renewed) {
        renewed = true;
        await req.credentials.renew();
        continue;
      }
      const retryable =
        typeof status !== 'number' ||
        RETRY_STATUSES.has(status) ||
        (status === 409 && problem === 'idempotency-key-in-progress');
      if (!retryable) return { kind: 'rejected', status, problem, body, attempts: n };
      if (Date.now() >= deadline) return { kind: 'gave-up', last: status, attempts: n };
      const retryAfter = Number(headers?.get('retry-after'));
      const backoff = Math.min(2000, 100 * 2 ** Math.min(n - 1, 5));
      const wait =
        Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 3000) : backoff;
      await sleep(Math.round(wait * (0.75 + Math.random() * 0.5)));
    }
  }
}
