import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Request, Response } from 'express';
import { AppError, internalProblem } from '@kv/errors';
import { getRequestId } from '@kv/http';
import { IDENTITY_HEADER, type IdentityCodec } from '@kv/tenant-context';
import { forwardedRoles, type ResolvedIdentity } from '../domain/identity';
import type { AsyncHandler } from './types';
import type { UpstreamClient } from './upstream';

/** Request headers passed on to services (everything else, e.g. Authorization and cookies, stays here). */
const FORWARDED_REQUEST_HEADERS = [
  'content-type',
  'accept',
  'accept-language',
  'idempotency-key',
  'if-match',
  'if-none-match',
  'user-agent',
];
/** Response headers passed back to clients. Security headers are the gateway's own (helmet). */
const FORWARDED_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'location',
  'retry-after',
  'idempotent-replayed',
  'etag',
  'last-modified',
  'cache-control',
  'link',
];

const SIGNED_REUSE_MS = 30_000;
const signedCache = new WeakMap<
  IdentityCodec,
  Map<string, { revision: string; token: string; until: number }>
>();

/**
 * The signed `x-kv-identity` of an identity. The signature is reused for up to 30 s of its 60 s lifetime
 * while the identity is unchanged (same revision): services take the request id from `x-request-id`, so the
 * token carries nothing request-specific that they use.
 */
function signedIdentity(codec: IdentityCodec, identity: ResolvedIdentity, requestId: string): string {
  let byUser = signedCache.get(codec);
  if (!byUser) {
    byUser = new Map();
    signedCache.set(codec, byUser);
  }
  const now = Date.now();
  const hit = byUser.get(identity.userId);
  if (hit && hit.revision === identity.revision && hit.until > now) return hit.token;
  const token = codec.sign({
    tenantId: identity.tenantId,
    userId: identity.userId,
    roles: forwardedRoles(identity),
    permissions: identity.permissions,
    attributes: identity.attributes,
    requestId,
    kind: 'user',
  });
  if (byUser.size >= 10_000) byUser.clear();
  byUser.set(identity.userId, { revision: identity.revision, token, until: now + SIGNED_REUSE_MS });
  return token;
}

/** Builds the headers of a request to a service: the signed identity, the request id and the client's safe headers. */
export function upstreamHeaders(
  req: Request,
  res: Response,
  codec: IdentityCodec,
  identity: ResolvedIdentity | undefined,
  clientIp: string | undefined,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const v = req.headers[name];
    if (v !== undefined) headers[name] = v;
  }
  const requestId = getRequestId(res);
  headers['x-request-id'] = requestId;
  if (clientIp) headers['x-forwarded-for'] = clientIp;
  if (identity) headers[IDENTITY_HEADER] = signedIdentity(codec, identity, requestId);
  return headers;
}

/** Idempotent requests may be retried after a connection error: GET/HEAD, or a POST with an Idempotency-Key. */
export function isRetryable(req: Request): boolean {
  return (
    req.method === 'GET' ||
    req.method === 'HEAD' ||
    (req.method === 'POST' && typeof req.headers['idempotency-key'] === 'string')
  );
}

/**
 * Writes a service's response. Its problem+json bodies pass through unchanged; a 5xx that is not one of our
 * problems (a crash page, a proxy's HTML) becomes a generic problem so that nothing internal leaks.
 */
export function relayResponse(upstream: IncomingMessage, res: Response): void {
  const status = upstream.statusCode ?? 502;
  const type = String(upstream.headers['content-type'] ?? '');
  if (status >= 500 && !type.startsWith('application/problem+json')) {
    upstream.resume();
    const problem =
      status === 503
        ? new AppError('UNAVAILABLE').toProblem(getRequestId(res))
        : internalProblem(getRequestId(res));
    res
      .status(status === 503 ? 503 : 500)
      .type('application/problem+json')
      .send(JSON.stringify(problem));
    return;
  }
  res.status(status);
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const v = upstream.headers[name];
    if (v !== undefined) res.setHeader(name, v);
  }
  upstream.pipe(res);
  upstream.once('error', () => res.destroy());
}

/** A handler that forwards the request 1:1 (same path and query) to `client`. */
export function proxyTo(
  client: UpstreamClient,
  codec: IdentityCodec,
  identityOf: (res: Response) => ResolvedIdentity | undefined,
  clientIpOf: (res: Response) => string | undefined,
): AsyncHandler {
  return async (req, res) => {
    const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
    const upstream = await client.request({
      method: req.method,
      path: req.originalUrl,
      headers: upstreamHeaders(req, res, codec, identityOf(res), clientIpOf(res)),
      ...(body ? { body } : {}),
      retryable: isRetryable(req),
      // The client went away: stop the upstream request (and free its socket) instead of finishing it.
      abandoned: (cancel) => res.once('close', () => res.writableFinished || cancel()),
    });
    relayResponse(upstream, res);
  };
}
