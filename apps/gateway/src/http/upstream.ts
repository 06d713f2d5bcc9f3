import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { AppError } from '@kv/errors';
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker';

export interface UpstreamOptions {
  /** Name used in errors, logs and metrics (`inventory`, ...). */
  name: string;
  /** Base URL, e.g. `http://127.0.0.1:3001`. */
  baseUrl: string;
  /** Time to wait for the response head, in ms; default 15 000. */
  timeoutMs?: number;
  /** Time to wait for a TCP connection, in ms; default 2000. */
  connectTimeoutMs?: number;
  /** Most sockets per upstream; default 256. */
  maxSockets?: number;
  /** Total attempts for a retryable request that fails to connect; default 2. */
  attempts?: number;
  breaker?: CircuitBreakerOptions;
  /** Observes each attempt (metrics). */
  onAttempt?: (outcome: 'ok' | 'error' | 'timeout' | 'open', seconds: number) => void;
}

export interface UpstreamRequest {
  method: string;
  /** Path and query, e.g. `/v1/products?limit=5`. */
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer;
  /**
   * May be sent again after a connection error: GET/HEAD, or a POST carrying an Idempotency-Key (the service
   * applies it at most once). Never retried after a timeout, when the first attempt may still be running.
   */
  retryable: boolean;
  /** Receives a function that cancels the request in flight (e.g. when the client disconnects). */
  abandoned?: (cancel: () => void) => void;
}

/** A keep-alive HTTP client for one upstream service, with timeouts, retries and a circuit breaker. */
export interface UpstreamClient {
  readonly name: string;
  readonly baseUrl: string;
  /**
   * Sends the request and resolves with the response head (the body is still to be read or piped).
   * @throws AppError UNAVAILABLE (circuit open, connection failed, timed out)
   */
  request(req: UpstreamRequest): Promise<IncomingMessage>;
  /** Sends and reads the whole body (small JSON responses). */
  requestJson(
    req: UpstreamRequest,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: unknown }>;
  /** `GET path` outside the breaker, for health checks. Resolves with the status code. */
  probe(path: string, timeoutMs: number): Promise<number>;
  breakerState(): BreakerState;
  close(): void;
}

class AbandonedError extends Error {
  constructor() {
    super('the client went away');
    this.name = 'AbandonedError';
  }
}

class TimeoutError extends Error {
  constructor() {
    super('upstream timed out');
    this.name = 'TimeoutError';
  }
}

const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
]);

/** Creates an upstream client with its own keep-alive pool (node:http Agent). */
export function createUpstreamClient(options: UpstreamOptions): UpstreamClient {
  const base = new URL(options.baseUrl);
  if (base.protocol !== 'http:') throw new Error(`${options.name}: only http:// upstreams are supported`);
  const agent = new http.Agent({
    keepAlive: true,
    keepAliveMsecs: 1000,
    maxSockets: options.maxSockets ?? 256,
    maxFreeSockets: 64,
    scheduling: 'lifo',
    timeout: 60_000,
  });
  const breaker = new CircuitBreaker(options.breaker);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  const attempts = Math.max(1, options.attempts ?? 2);
  const basePath = base.pathname.replace(/\/$/, '');
  const observe = options.onAttempt ?? (() => undefined);

  function once(
    req: UpstreamRequest,
    state: { abandoned: boolean; current?: http.ClientRequest },
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const headers: OutgoingHttpHeaders = { ...req.headers, host: base.host };
      if (req.body) headers['content-length'] = String(req.body.length);
      const out = http.request({
        agent,
        host: base.hostname,
        port: base.port || 80,
        method: req.method,
        path: basePath + req.path,
        headers,
      });
      state.current = out;
      let settled = false;
      const headTimer = setTimeout(() => out.destroy(new TimeoutError()), timeoutMs);
      out.once('socket', (socket) => {
        if (socket.connecting) {
          const connectTimer = setTimeout(
            () => out.destroy(Object.assign(new Error('connect timeout'), { code: 'ECONNABORTED' })),
            connectTimeoutMs,
          );
          socket.once('connect', () => clearTimeout(connectTimer));
          socket.once('close', () => clearTimeout(connectTimer));
        }
      });
      out.once('response', (res) => {
        settled = true;
        clearTimeout(headTimer);
        observe('ok', (performance.now() - started) / 1000);
        resolve(res);
      });
      out.once('error', (err) => {
        clearTimeout(headTimer);
        if (settled) return;
        settled = true;
        observe(err instanceof TimeoutError ? 'timeout' : 'error', (performance.now() - started) / 1000);
        reject(err);
      });
      out.end(req.body);
    });
  }

  const unavailable = (detail: string, cause?: unknown, retryAfterS?: number) =>
    new AppError('UNAVAILABLE', detail, {
      cause,
      ...(retryAfterS !== undefined ? { headers: { 'Retry-After': String(retryAfterS) } } : {}),
    });

  const client: UpstreamClient = {
    name: options.name,
    baseUrl: options.baseUrl,
    async request(req) {
      const state: { abandoned: boolean; current?: http.ClientRequest } = { abandoned: false };
      req.abandoned?.(() => {
        state.abandoned = true;
        state.current?.destroy(new AbandonedError());
      });
      let lastError: unknown;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        const ticket = breaker.tryAcquire();
        if (!ticket) {
          observe('open', 0);
          throw unavailable(
            `The ${options.name} service is unavailable; retry later.`,
            undefined,
            Math.max(1, Math.ceil(breaker.retryAfterMs() / 1000)),
          );
        }
        try {
          if (state.abandoned) throw new AbandonedError();
          const res = await once(req, state);
          ticket.success();
          return res;
        } catch (err) {
          if (state.abandoned) {
            ticket.success();
            throw unavailable('The request was aborted.', err);
          }
          ticket.failure();
          lastError = err;
          if (err instanceof TimeoutError) {
            throw unavailable(`The ${options.name} service did not answer in time; retry later.`, err, 1);
          }
          const code = (err as { code?: unknown }).code;
          const connectionError = typeof code === 'string' && CONNECT_ERRORS.has(code);
          if (!req.retryable || !connectionError) break;
        }
      }
      throw unavailable(`The ${options.name} service is unavailable; retry later.`, lastError, 1);
    },

    async requestJson(req) {
      const res = await client.request(req);
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of res) chunks.push(chunk as Buffer);
      } catch (err) {
        throw unavailable(`The ${options.name} service broke off its answer; retry later.`, err, 1);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch (err) {
        throw unavailable(`The ${options.name} service gave an unreadable answer.`, err);
      }
      return { status: res.statusCode ?? 502, headers: res.headers, body };
    },

    probe(path, probeTimeoutMs) {
      return new Promise((resolve, reject) => {
        const out = http.get({
          agent,
          host: base.hostname,
          port: base.port || 80,
          path: basePath + path,
          timeout: probeTimeoutMs,
        });
        out.once('timeout', () => out.destroy(new TimeoutError()));
        out.once('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        out.once('error', reject);
      });
    },

    breakerState: () => breaker.current,
    close: () => agent.destroy(),
  };
  return client;
}
