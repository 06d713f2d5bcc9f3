import http from 'node:http';
import https from 'node:https';

/** One HTTP exchange as the tests look at it. */
export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Raw header lines, to count repeated headers (`rawHeaders` of node:http). */
  rawHeaders: string[];
  body: string;
}

/** Options of {@link httpRequest}. */
export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Keep-alive agent to reuse; default: a new connection per request. */
  agent?: http.Agent;
  /** Milliseconds before the request is aborted with an error. Default 15000. */
  timeoutMs?: number;
  /** For https URLs: accept a self-signed certificate. Default false. */
  insecure?: boolean;
}

/**
 * Sends one request and buffers the whole response. Rejects on a network error or timeout (a reset
 * connection is an error, not a status), never on an HTTP status.
 */
export function httpRequest(url: string, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      u,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent,
        rejectUnauthorized: !options.insecure,
        timeout: options.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${options.timeoutMs ?? 15_000} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** How often a header name occurs in a response (case-insensitive). */
export function headerCount(res: HttpResponse, name: string): number {
  let n = 0;
  for (let i = 0; i < res.rawHeaders.length; i += 2)
    if (res.rawHeaders[i]?.toLowerCase() === name.toLowerCase()) n++;
  return n;
}

/**
 * Runs `total` requests with at most `concurrency` in flight; `onDone(i)` runs after each one (e.g. to
 * kill a server mid-load). Network errors are returned as `Error` entries, never thrown.
 */
export async function runLoad(
  total: number,
  concurrency: number,
  send: (i: number) => Promise<HttpResponse>,
  onDone?: (completed: number) => void,
): Promise<(HttpResponse | Error)[]> {
  const results: (HttpResponse | Error)[] = new Array<HttpResponse | Error>(total);
  let next = 0;
  let completed = 0;
  const lane = async () => {
    while (next < total) {
      const i = next++;
      try {
        results[i] = await send(i);
      } catch (err) {
        results[i] = err instanceof Error ? err : new Error(String(err));
      }
      completed++;
      onDone?.(completed);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
  return results;
}
