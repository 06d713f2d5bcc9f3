import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';

/** A response with its JSON body parsed (undefined for an empty or non-JSON body). */
export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** Sends `Idempotency-Key` (POSTs under /v1). */
  idempotencyKey?: string;
  /** Parse the body as JSON (default true); false only drains it. */
  parse?: boolean;
}

/** HTTP/1.1 keep-alive client over one undici pool (one connection per concurrent caller). */
export class HttpClient {
  private readonly pool: Pool;

  /** @param connections most open connections (the load's concurrency). */
  constructor(
    readonly base: string,
    connections: number,
  ) {
    this.pool = new Pool(base, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
      connect: { timeout: 10_000 },
    });
  }

  /** One request; throws only on network errors (any HTTP status resolves). */
  async call(method: string, path: string, options: CallOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
    let payload: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(options.body);
    }
    const res = await this.pool.request({ method, path, headers, body: payload });
    let body: unknown;
    if (options.parse === false) {
      await res.body.dump();
    } else {
      const text = await res.body.text();
      try {
        body = text ? (JSON.parse(text) as unknown) : undefined;
      } catch {
        body = text;
      }
    }
    return { status: res.statusCode, headers: res.headers, body };
  }

  /**
   * Like {@link call}, but a 503 (or a network error) is retried up to `attempts` times with backoff, with the
   * same Idempotency-Key (the contract: a 503 is always safe to retry). For setup and checks, not for the
   * measured load.
   */
  async callRetrying(
    method: string,
    path: string,
    options: CallOptions = {},
    attempts = 6,
  ): Promise<ApiResponse> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.call(method, path, options);
        if (r.status !== 503 || attempt >= attempts) return r;
      } catch (err) {
        if (attempt >= attempts) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** A fresh idempotency key. */
export function newKey(): string {
  return randomUUID();
}

/** Reads `obj.path` as a string (throws naming what is missing). */
export function field(obj: unknown, key: string, what: string): string {
  const v = (obj as Record<string, unknown> | undefined)?.[key];
  if (typeof v !== 'string') throw new Error(`${what}: response has no ${key}: ${JSON.stringify(obj)}`);
  return v;
}

/** Throws with the response when the status is not one of `ok`. */
export function expectStatus(res: ApiResponse, ok: number[], what: string): void {
  if (!ok.includes(res.status)) {
    throw new Error(`${what} failed: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
  }
}
