import http from 'node:http';
import https from 'node:https';
import type { IdentityCodec } from '@kv/tenant-context';
import { IDENTITY_HEADER } from '@kv/tenant-context';
import { PermanentError, RetryableError } from './errors';

/** Options of {@link createServiceClient}. */
export interface ServiceClientOptions {
  /** Base URL of the service, e.g. `http://127.0.0.1:3002`. */
  baseUrl: string;
  /** Service name for error messages, e.g. `accounting`. */
  name: string;
  /** Signs the worker's service identity. */
  codec: IdentityCodec;
  /** Timeout of one call in ms (the request is aborted after it). */
  timeoutMs: number;
}

/** Who a call is made for: the tenant (or the system tenant) and the request id to propagate. */
export interface CallContext {
  tenantId: string;
  requestId: string;
  /** Aborts the call early (shutdown). */
  signal?: AbortSignal;
}

/** Calls a service's `/internal/*` endpoints with a signed `kind: 'service'` identity. */
export interface ServiceClient {
  /**
   * POSTs `body` as JSON and returns the parsed JSON answer of a 2xx.
   * @throws RetryableError when the service is unreachable, times out, or answers 5xx, 429, 408 or 409.
   * @throws PermanentError for any other non-2xx answer (its problem `type` and `detail` in the message).
   */
  post(path: string, body: unknown, ctx: CallContext): Promise<unknown>;
  /** Closes the kept-alive connections. */
  close(): void;
}

const RETRYABLE_STATUS = new Set([408, 409, 425, 429]);

function describe(status: number, text: string): string {
  try {
    const parsed = JSON.parse(text) as { type?: unknown; detail?: unknown };
    const type = typeof parsed.type === 'string' ? parsed.type : 'unknown';
    const detail = typeof parsed.detail === 'string' ? parsed.detail.slice(0, 300) : '';
    return `${type}${detail ? `: ${detail}` : ''}`;
  } catch {
    return `status ${status}, no problem body`;
  }
}

interface RawResponse {
  status: number;
  text: string;
}

/**
 * One request over a keep-alive agent. Plain `node:http` rather than `fetch`: at a thousand calls per second
 * fetch's per-request web streams and abort-signal plumbing cost the worker more CPU than the rest of a job.
 */
function send(
  agent: http.Agent,
  url: URL,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new Error('aborted'));
      return;
    }
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          cleanup();
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', fail);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => req.destroy(new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    function cleanup() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    function fail(err: Error) {
      cleanup();
      reject(err);
    }
    req.on('error', fail);
    req.end(body);
  });
}

/** Creates a client for one service, with its own keep-alive connection pool. */
export function createServiceClient(options: ServiceClientOptions): ServiceClient {
  const base = options.baseUrl.replace(/\/+$/, '');
  const agentOptions = { keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 };
  const agent = base.startsWith('https:') ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  return {
    async post(path, body, ctx) {
      const identity = options.codec.sign({
        kind: 'service',
        tenantId: ctx.tenantId,
        userId: null,
        roles: [],
        permissions: [],
        attributes: {},
        requestId: ctx.requestId,
      });
      let res: RawResponse;
      try {
        res = await send(
          agent,
          new URL(`${base}${path}`),
          { 'content-type': 'application/json', [IDENTITY_HEADER]: identity, 'x-request-id': ctx.requestId },
          JSON.stringify(body),
          options.timeoutMs,
          ctx.signal,
        );
      } catch (err) {
        throw new RetryableError(`${options.name} ${path} unreachable: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (res.status >= 200 && res.status < 300) {
        try {
          return JSON.parse(res.text) as unknown;
        } catch (err) {
          throw new RetryableError(`${options.name} ${path} answered ${res.status} without JSON`, {
            cause: err,
          });
        }
      }
      const what = `${options.name} ${path} answered ${res.status} (${describe(res.status, res.text)})`;
      if (res.status >= 500 || RETRYABLE_STATUS.has(res.status)) throw new RetryableError(what);
      throw new PermanentError(what);
    },
    close() {
      agent.destroy();
    },
  };
}
