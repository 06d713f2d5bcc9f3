import type { Knex } from 'knex';
import { AUDIT_ENTITY_OWNER, auditQuery, type AuditQuery } from '@kv/api-contract';
import { listAudit } from '@kv/audit';
import { AppError, errors, isAppError } from '@kv/errors';
import { parseOrThrow } from '@kv/http';
import { withTenantTransaction } from '@kv/tenant-context';
import type { Request, Response } from 'express';
import { SCHEMA } from '../data/schema';
import {
  AUDIT_SOURCES,
  decodeComposite,
  mergeAuditPages,
  type AuditSource,
  type SourcePage,
} from '../domain/audit-merge';
import { identityOf } from '../http/auth';
import { relayResponse, upstreamHeaders } from '../http/proxy';
import type { AsyncHandler } from '../http/types';
import type { UpstreamClient } from '../http/upstream';
import type { IdentityCodec } from '@kv/tenant-context';

export interface AuditRouteOptions {
  /** `kv_app` pool (the gateway's own `iam` audit trail). */
  knex: Knex;
  upstreams: { inventory: UpstreamClient; accounting: UpstreamClient };
  codec: IdentityCodec;
  clientIpOf: (res: Response) => string | undefined;
}

function queryString(q: {
  limit: number;
  cursor?: string | undefined;
  entity_type?: string | undefined;
  entity_id?: string | undefined;
}): string {
  const p = new URLSearchParams();
  p.set('limit', String(q.limit));
  if (q.cursor) p.set('cursor', q.cursor);
  if (q.entity_type) p.set('entity_type', q.entity_type);
  if (q.entity_id) p.set('entity_id', q.entity_id);
  return p.toString();
}

function isPage(body: unknown): body is SourcePage {
  return (
    typeof body === 'object' &&
    body !== null &&
    Array.isArray((body as SourcePage).data) &&
    ((body as SourcePage).next_cursor === null || typeof (body as SourcePage).next_cursor === 'string')
  );
}

/**
 * `GET /v1/audit-events`: with `entity_type`, served by the service that owns that type (the gateway's own
 * `tenant`/`user` trail locally, others proxied); without it, the three trails merged newest first under a
 * composite cursor. A service that is down makes the merged listing a 503 (never a silently partial page).
 */
export function auditHandlers(options: AuditRouteOptions): Record<string, AsyncHandler> {
  const local = (
    res: Response,
    q: {
      limit: number;
      cursor?: string | undefined;
      entity_type?: string | undefined;
      entity_id?: string | undefined;
    },
  ) => {
    const id = identityOf(res);
    return withTenantTransaction(
      options.knex,
      (trx) =>
        listAudit(trx, SCHEMA, {
          limit: q.limit,
          ...(q.cursor ? { cursor: q.cursor } : {}),
          ...(q.entity_type ? { entityType: q.entity_type } : {}),
          ...(q.entity_id ? { entityId: q.entity_id } : {}),
        }),
      { tenantId: id.tenantId, userId: id.userId },
      { readOnly: true },
    );
  };

  const remote = async (
    source: 'inventory' | 'accounting',
    req: Request,
    res: Response,
    q: Parameters<typeof queryString>[0],
  ) => {
    const r = await options.upstreams[source].requestJson({
      method: 'GET',
      path: `/v1/audit-events?${queryString(q)}`,
      headers: upstreamHeaders(req, res, options.codec, identityOf(res), options.clientIpOf(res)),
      retryable: true,
    });
    if (r.status === 200 && isPage(r.body)) return r.body;
    if (r.status >= 400 && r.status < 500) {
      throw new AppError(
        r.status === 404 ? 'NOT_FOUND' : r.status === 403 ? 'FORBIDDEN' : 'VALIDATION_ERROR',
        'The audit listing was refused.',
      );
    }
    throw errors.unavailable(`The ${source} audit trail is unavailable; retry later.`);
  };

  return {
    'get /v1/audit-events': async (req, res) => {
      const q: AuditQuery = parseOrThrow(auditQuery, req.query, 'query');
      if (q.entity_type) {
        const owner = AUDIT_ENTITY_OWNER[q.entity_type];
        if (owner === 'gateway') {
          res.json(await local(res, q));
          return;
        }
        const upstream = await options.upstreams[owner].request({
          method: 'GET',
          path: req.originalUrl,
          headers: upstreamHeaders(req, res, options.codec, identityOf(res), options.clientIpOf(res)),
          retryable: true,
        });
        relayResponse(upstream, res);
        return;
      }
      const cursor = decodeComposite(q.cursor);
      const pages: Partial<Record<AuditSource, SourcePage>> = {};
      await Promise.all(
        AUDIT_SOURCES.map(async (s) => {
          const c = cursor[s];
          if (c === false) return;
          const sq = {
            limit: q.limit,
            ...(c ? { cursor: c } : {}),
            ...(q.entity_id ? { entity_id: q.entity_id } : {}),
          };
          try {
            pages[s] = s === 'gateway' ? await local(res, sq) : await remote(s, req, res, sq);
          } catch (err) {
            if (isAppError(err)) throw err;
            throw errors.unavailable('The audit trail is unavailable; retry later.', err);
          }
        }),
      );
      res.json(mergeAuditPages(cursor, pages, q.limit));
    },
  };
}
