import { z } from 'zod';
import { ROLES } from './auth';
import { idParams, listQuery, nonNegativeInt, page, text, timestamp, uuid } from './common';
import { defineRoutes } from './routes';

/** Slug of the reserved tenant that holds the platform administrator(s). */
export const PLATFORM_TENANT_SLUG = 'platform';

/**
 * Role the gateway adds to the forwarded identity (`x-kv-identity`) of a platform administrator (an `admin`
 * of the `platform` tenant). Services that serve `platform_admin` routes (the worker's failed-jobs API)
 * check for it. It is never stored on a user and cannot be granted through `/v1/users`.
 */
export const PLATFORM_ADMIN_ROLE = 'platform_admin';

/** Shortest password the API accepts (contract: at least 10 characters, counted in code points). */
export const MIN_PASSWORD_LENGTH = 10;

// ---------------------------------------------------------------------- auth

/** An email address (compared case-insensitively; at most 200 characters). */
export const emailAddress = () =>
  text(200).refine((s) => /^[^\s@]+@[^\s@]+$/.test(s), 'must be an email address');

/** A new password: 10..200 code points. */
export const newPassword = () =>
  text(200).refine(
    (s) => [...s].length >= MIN_PASSWORD_LENGTH,
    `must be at least ${MIN_PASSWORD_LENGTH} characters`,
  );

/** `POST /v1/auth/login` body. `tenant` is the tenant's slug. Wrong credentials of any kind are a 401. */
export const loginRequest = z
  .object({ tenant: text(64), email: text(200), password: z.string().min(1).max(1000) })
  .meta({ id: 'LoginRequest' });
export type LoginRequest = z.infer<typeof loginRequest>;

/** `POST /v1/auth/refresh` body. */
export const refreshRequest = z
  .object({ refresh_token: z.string().min(1).max(4096) })
  .meta({ id: 'RefreshRequest' });
export type RefreshRequest = z.infer<typeof refreshRequest>;

/** Tokens issued by login and refresh. `expires_in` is the access token's lifetime in seconds. */
export const tokenResponse = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
  })
  .meta({ id: 'TokenResponse' });
export type TokenResponse = z.infer<typeof tokenResponse>;

/** ABAC attributes. Absent = unrestricted (`warehouse_ids`: any warehouse; `approval_limit`: no limit). */
export const userAttributes = z
  .object({
    warehouse_ids: z.array(uuid()).max(1000).optional(),
    approval_limit: nonNegativeInt().optional(),
  })
  .meta({ id: 'UserAttributes' });
export type UserAttributesInput = z.infer<typeof userAttributes>;

/** `GET /v1/auth/me`. `permissions` are those of `roles` (the contract's table). */
export const me = z
  .object({
    user_id: uuid(),
    tenant_id: uuid(),
    email: z.string(),
    roles: z.array(z.string()),
    permissions: z.array(z.string()),
    attributes: userAttributes,
  })
  .meta({ id: 'Me' });
export type Me = z.infer<typeof me>;

// ------------------------------------------------------------------- tenants

/** A tenant slug: 2..63 of `a-z 0-9 -`, starting and ending with a letter or digit. */
export const tenantSlug = () =>
  z.string().regex(/^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$/, 'must be 2..63 lowercase letters, digits or dashes');

/** `POST /v1/platform/tenants` body: the tenant and its first administrator. The slug is unique (409). */
export const tenantCreate = z
  .object({
    slug: tenantSlug(),
    name: text(),
    admin: z.object({ email: emailAddress(), password: newPassword() }),
  })
  .meta({ id: 'TenantCreate' });
export type TenantCreate = z.infer<typeof tenantCreate>;

export const tenant = z
  .object({ id: uuid(), slug: z.string(), name: z.string(), created_at: timestamp() })
  .meta({ id: 'Tenant' });
export type Tenant = z.infer<typeof tenant>;

// --------------------------------------------------------------------- users

/** A role name from the contract's table; anything else is a 400. */
export const roleName = () => z.enum(ROLES);

const roleList = () =>
  z
    .array(roleName())
    .max(ROLES.length * 4)
    .transform((roles) => [...new Set(roles)]);

/** `POST /v1/users` body. The email is unique per tenant, compared case-insensitively (409). */
export const userCreate = z
  .object({
    email: emailAddress(),
    password: newPassword(),
    roles: roleList(),
    attributes: userAttributes.optional(),
  })
  .meta({ id: 'UserCreate' });
export type UserCreate = z.infer<typeof userCreate>;

/**
 * `PATCH /v1/users/:id` body. `attributes`, when given, replaces the user's attributes as a whole (`{}` lifts
 * every restriction). `disabled: true` makes the user's tokens stop working at once.
 */
export const userPatch = z
  .object({
    roles: roleList().optional(),
    attributes: userAttributes.optional(),
    disabled: z.boolean().optional(),
  })
  .meta({ id: 'UserPatch' });
export type UserPatch = z.infer<typeof userPatch>;

/** A user as the API shows it (never a password or its hash). */
export const user = z
  .object({
    id: uuid(),
    email: z.string(),
    roles: z.array(z.string()),
    attributes: userAttributes,
    disabled: z.boolean(),
    created_at: timestamp(),
  })
  .meta({ id: 'User' });
export type User = z.infer<typeof user>;

/** `GET /v1/users` query (ordered by email). */
export const userListQuery = listQuery;

// --------------------------------------------------------------------- audit

/** The contract's audited entity types. */
export const AUDIT_ENTITY_TYPES = [
  'tenant',
  'user',
  'warehouse',
  'product',
  'receipt',
  'reservation',
  'adjustment',
  'transfer',
  'account',
  'journal_entry',
  'period',
] as const;
export type AuditEntityTypeName = (typeof AUDIT_ENTITY_TYPES)[number];

/** Which service owns (audits and serves) each entity type. */
export const AUDIT_ENTITY_OWNER: Readonly<
  Record<AuditEntityTypeName, 'gateway' | 'inventory' | 'accounting'>
> = {
  tenant: 'gateway',
  user: 'gateway',
  warehouse: 'inventory',
  product: 'inventory',
  receipt: 'inventory',
  reservation: 'inventory',
  adjustment: 'inventory',
  transfer: 'inventory',
  account: 'accounting',
  journal_entry: 'accounting',
  period: 'accounting',
};

/**
 * `GET /v1/audit-events` query. With `entity_type` the gateway routes to the owning service; without it, it
 * merges the three services newest first (the cursor is then a composite of theirs).
 */
export const auditQuery = listQuery.extend({
  entity_type: z.enum(AUDIT_ENTITY_TYPES).optional(),
  entity_id: text(200).optional(),
});
export type AuditQuery = z.infer<typeof auditQuery>;

/** One audit event; system actions have `actor_id: null`. Newest first (`at`, then `id`, descending). */
export const auditEvent = z
  .object({
    id: uuid(),
    actor_id: uuid().nullable(),
    action: z.string(),
    entity_type: z.string(),
    entity_id: z.string(),
    request_id: z.string().nullable(),
    at: timestamp(),
    changes: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'AuditEvent' });
export type AuditEventOut = z.infer<typeof auditEvent>;

// --------------------------------------------------------------- failed jobs

/** `GET /v1/admin/failed-jobs` query. */
export const failedJobQuery = listQuery;

/** A queue job that exhausted its retries (table `worker.failed_jobs`, served by the worker). */
export const failedJob = z
  .object({
    id: uuid(),
    queue: z.string(),
    job_name: z.string(),
    job_id: z.string().nullable(),
    tenant_id: uuid().nullable(),
    payload: z.unknown(),
    error: z.string(),
    attempts: z.number().int(),
    failed_at: timestamp(),
    retried_at: timestamp().nullable(),
  })
  .meta({ id: 'FailedJob' });
export type FailedJob = z.infer<typeof failedJob>;

// --------------------------------------------------------------- route table

/** Public routes served (or, for failed jobs, proxied) by the gateway itself. */
export const iamRoutes = defineRoutes([
  {
    method: 'post',
    path: '/v1/auth/login',
    upstream: 'gateway',
    access: 'public',
    summary: 'Log in with tenant slug, email and password',
    tag: 'Auth',
    body: loginRequest,
    responses: { 200: tokenResponse },
  },
  {
    method: 'post',
    path: '/v1/auth/refresh',
    upstream: 'gateway',
    access: 'public',
    summary: 'Exchange a refresh token for new tokens (rotation; reuse revokes the session)',
    tag: 'Auth',
    body: refreshRequest,
    responses: { 200: tokenResponse },
  },
  {
    method: 'post',
    path: '/v1/auth/logout',
    upstream: 'gateway',
    access: 'authenticated',
    summary: 'Revoke this access token and its refresh session on every instance',
    tag: 'Auth',
    responses: { 204: null },
  },
  {
    method: 'get',
    path: '/v1/auth/me',
    upstream: 'gateway',
    access: 'authenticated',
    summary: 'The caller: tenant, roles, permissions and attributes',
    tag: 'Auth',
    responses: { 200: me },
  },
  {
    method: 'post',
    path: '/v1/platform/tenants',
    upstream: 'gateway',
    access: 'platform_admin',
    summary: 'Create a tenant and its first administrator (platform admin only)',
    tag: 'Platform',
    body: tenantCreate,
    responses: { 201: tenant },
    idempotent: true,
  },
  {
    method: 'post',
    path: '/v1/users',
    upstream: 'gateway',
    access: 'users:manage',
    summary: 'Create a user in the caller’s tenant',
    tag: 'Users',
    body: userCreate,
    responses: { 201: user },
    idempotent: true,
  },
  {
    method: 'get',
    path: '/v1/users',
    upstream: 'gateway',
    access: 'users:manage',
    summary: 'List users (ordered by email)',
    tag: 'Users',
    query: userListQuery,
    responses: { 200: page(user) },
  },
  {
    method: 'get',
    path: '/v1/users/:id',
    upstream: 'gateway',
    access: 'users:manage',
    summary: 'Get a user',
    tag: 'Users',
    params: idParams,
    responses: { 200: user },
  },
  {
    method: 'patch',
    path: '/v1/users/:id',
    upstream: 'gateway',
    access: 'users:manage',
    summary: 'Change roles, attributes or disable a user (applies to their tokens at once)',
    tag: 'Users',
    params: idParams,
    body: userPatch,
    responses: { 200: user },
  },
  {
    method: 'get',
    path: '/v1/audit-events',
    upstream: 'gateway',
    access: 'audit:read',
    summary: 'Audit trail, newest first (by entity type from its service, else all services merged)',
    tag: 'Audit',
    query: auditQuery,
    responses: { 200: page(auditEvent) },
  },
  {
    method: 'get',
    path: '/v1/admin/failed-jobs',
    upstream: 'worker',
    access: 'platform_admin',
    summary: 'Queue jobs that exhausted their retries (platform admin only)',
    tag: 'Admin',
    query: failedJobQuery,
    responses: { 200: page(failedJob) },
  },
  {
    method: 'post',
    path: '/v1/admin/failed-jobs/:id/retry',
    upstream: 'worker',
    access: 'platform_admin',
    summary: 'Enqueue a failed job again (platform admin only)',
    tag: 'Admin',
    params: idParams,
    responses: { 200: failedJob },
    idempotent: true,
  },
]);
