import { z } from 'zod';
import { problemSchema, type RouteSpec } from '@kv/api-contract';

/** A JSON Schema / OpenAPI object. */
type Json = Record<string, unknown>;

export interface OpenApiOptions {
  title?: string;
  version?: string;
  description?: string;
  /** Server URLs to list (default: the current origin). */
  servers?: string[];
}

const ERROR_RESPONSES: Record<string, string> = {
  '400': 'Validation failed (`validation-error`)',
  '401': 'Missing, invalid, expired or revoked token (`unauthenticated`)',
  '403': 'The role, attribute or approval limit does not allow it (`forbidden`, `approval-limit-exceeded`)',
  '404': 'No such resource in the caller’s tenant (`not-found`)',
  '409': 'Conflict (`conflict`, `insufficient-stock`, `period-closed`, `idempotency-key-in-progress`)',
  '413': 'Body over 1 MiB (`payload-too-large`)',
  '422': 'Unbalanced entry or reused Idempotency-Key (`unbalanced-entry`, `idempotency-key-reused`)',
  '429': 'Over a rate limit (`rate-limited`); see `Retry-After`',
  '503': 'A dependency is down (`unavailable`); safe to retry',
};

/** `/v1/products/:id` → `/v1/products/{id}`. */
export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * Converts zod schemas to JSON Schema (2020-12, which OpenAPI 3.1 uses) and collects every schema with a
 * `.meta({ id })` into `components.schemas`. Request schemas are converted as input (before transforms and
 * defaults), responses as output; when the two differ for one id, the input one is named `<id>Input`.
 */
class ComponentCollector {
  readonly components: Record<string, Json> = {};

  convert(schema: z.ZodType, io: 'input' | 'output'): Json {
    const raw = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
    const defs = (raw.$defs ?? {}) as Record<string, Json>;
    delete raw.$defs;
    delete raw.$schema;
    const rootId = z.globalRegistry.get(schema)?.id;
    if (typeof rootId === 'string' && !(rootId in defs)) defs[rootId] = raw;
    // Pass 1: keep each id's name unless a different schema already holds it (input vs output variants).
    const names = new Map(Object.keys(defs).map((id) => [id, id]));
    for (const [id, def] of Object.entries(defs)) {
      const existing = this.components[id];
      if (existing && JSON.stringify(existing) !== JSON.stringify(rewriteRefs(def, names))) {
        names.set(id, `${id}${io === 'input' ? 'Input' : 'Output'}`);
      }
    }
    // Pass 2: store under the final names.
    for (const [id, def] of Object.entries(defs)) this.components[names.get(id)!] ??= rewriteRefs(def, names);
    if (typeof rootId === 'string') return { $ref: `#/components/schemas/${names.get(rootId)!}` };
    return rewriteRefs(raw, names);
  }
}

/** Points `#/$defs/X` references at `#/components/schemas/<name of X>`. */
function rewriteRefs(node: Json, names: Map<string, string>): Json {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const out: Json = {};
    for (const [k, child] of Object.entries(v as Json)) {
      if (k === '$ref' && typeof child === 'string' && child.startsWith('#/$defs/')) {
        const id = child.slice('#/$defs/'.length);
        out.$ref = `#/components/schemas/${names.get(id) ?? id}`;
      } else {
        out[k] = walk(child);
      }
    }
    return out;
  };
  return walk(node) as Json;
}

function parametersOf(
  collector: ComponentCollector,
  schema: z.ZodType | undefined,
  where: 'path' | 'query',
): Json[] {
  if (!schema) return [];
  const json = collector.convert(schema, 'input');
  const props = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' ? true : required.has(name),
    schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }));
}

function accessText(route: RouteSpec): string {
  switch (route.access) {
    case 'public':
      return 'No token needed.';
    case 'authenticated':
      return 'Any authenticated user.';
    case 'platform_admin':
      return 'Platform administrator only.';
    default:
      return `Requires the \`${route.access}\` permission.`;
  }
}

/** Builds an OpenAPI 3.1 document describing every route of the table with its request and response schemas. */
export function buildOpenApi(routes: readonly RouteSpec[], options: OpenApiOptions = {}): Json {
  const collector = new ComponentCollector();
  const paths: Record<string, Record<string, Json>> = {};
  const problemRef = collector.convert(problemSchema, 'output');
  for (const route of routes) {
    const path = toOpenApiPath(route.path);
    const parameters = [
      ...parametersOf(collector, route.params, 'path'),
      ...parametersOf(collector, route.query, 'query'),
    ];
    if (route.idempotent) {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'Makes the request safe to retry: the same key and body replay the stored response (kept 24 h).',
        schema: { type: 'string', minLength: 1, maxLength: 255 },
      });
    }
    const responses: Record<string, Json> = {};
    for (const [status, schema] of Object.entries(route.responses)) {
      responses[status] = schema
        ? {
            description: 'Success',
            content: { 'application/json': { schema: collector.convert(schema, 'output') } },
          }
        : { description: 'Success (no body)' };
    }
    for (const [status, description] of Object.entries(ERROR_RESPONSES)) {
      if (route.access === 'public' && (status === '401' || status === '403')) continue;
      responses[status] ??= { description, content: { 'application/problem+json': { schema: problemRef } } };
    }
    const operation: Json = {
      operationId: `${route.method}${route.path.replace(/[:/{}-]+(\w)/g, (_m, c: string) => c.toUpperCase())}`,
      summary: route.summary,
      description: accessText(route),
      tags: [route.tag],
      'x-access': route.access,
      'x-upstream': route.upstream,
      security: route.access === 'public' ? [] : [{ bearerAuth: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: collector.convert(route.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
    (paths[path] ??= {})[route.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: options.title ?? 'kv-erp API',
      version: options.version ?? '1.0.0',
      description:
        options.description ??
        'Multi-tenant inventory and accounting API. Errors are RFC 9457 problem+json; lists use `limit`/`cursor`; ' +
          'every POST (except /v1/auth/*) accepts `Idempotency-Key`; responses carry rate-limit headers.',
    },
    ...(options.servers ? { servers: options.servers.map((url) => ({ url })) } : {}),
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: collector.components,
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
