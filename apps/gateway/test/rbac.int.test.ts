import request from 'supertest';
import { ROLE_PERMISSIONS, ROUTES, type Role } from '@kv/api-contract';
import {
  createEnv,
  createTenant,
  createUser,
  login,
  loginPlatform,
  startStandIn,
  type Echo,
  type Env,
  type Instance,
  type StandIn,
} from './helpers';

let env: Env;
let gw: Instance;
let gw2: Instance;
let upstream: StandIn;
let adminToken: string;
const tokens: Partial<Record<Role, string>> = {};
const WAREHOUSE = '11111111-1111-4111-8111-111111111111';
const ID = '22222222-2222-4222-8222-222222222222';

beforeAll(async () => {
  upstream = await startStandIn();
  env = await createEnv('rbac', {
    INVENTORY_URL: upstream.url,
    ACCOUNTING_URL: upstream.url,
    WORKER_URL: upstream.url,
  });
  gw = await env.start();
  gw2 = await env.start();
  const platform = await loginPlatform(gw.app);
  await createTenant(gw.app, platform.access_token, 'rbac', 'admin@rbac.test', 'rbac-admin-password');
  adminToken = (await login(gw.app, 'rbac', 'admin@rbac.test', 'rbac-admin-password')).access_token;
  for (const role of Object.keys(ROLE_PERMISSIONS) as Role[]) {
    await createUser(gw.app, adminToken, {
      email: `r-${role}@rbac.test`,
      password: `${role}-password-1`,
      roles: [role],
    });
    tokens[role] = (await login(gw.app, 'rbac', `r-${role}@rbac.test`, `${role}-password-1`)).access_token;
  }
});

afterAll(async () => {
  await env.close();
  await upstream.close();
});

interface Call {
  method: 'get' | 'post';
  path: string;
  body?: Record<string, unknown>;
}

/** One allowed and one forbidden call per role of the contract's table. */
const CASES: Record<Role, { allowed: Call; forbidden: Call }> = {
  admin: {
    allowed: { method: 'get', path: '/v1/users' },
    forbidden: { method: 'get', path: '/v1/admin/failed-jobs' },
  },
  inventory_manager: {
    allowed: { method: 'post', path: '/v1/stock/adjustments', body: { warehouse_id: WAREHOUSE } },
    forbidden: { method: 'get', path: '/v1/accounts' },
  },
  sales_clerk: {
    allowed: { method: 'post', path: '/v1/reservations', body: { warehouse_id: WAREHOUSE } },
    forbidden: { method: 'post', path: '/v1/stock/adjustments', body: {} },
  },
  accountant: {
    allowed: { method: 'post', path: '/v1/journal-entries', body: {} },
    forbidden: { method: 'post', path: '/v1/warehouses', body: {} },
  },
  auditor: {
    allowed: { method: 'get', path: '/v1/audit-events?entity_type=user' },
    forbidden: { method: 'post', path: `/v1/reservations/${ID}/commit` },
  },
  viewer: {
    allowed: { method: 'get', path: '/v1/trial-balance' },
    forbidden: { method: 'get', path: '/v1/audit-events' },
  },
};

function send(app: Instance['app'], token: string, call: Call) {
  const r = request(app)[call.method](call.path).set('Authorization', `Bearer ${token}`);
  return call.body ? r.send(call.body) : r;
}

describe('RBAC per route from the route table', () => {
  it.each(Object.keys(CASES) as Role[])(
    'lets %s through where its role allows and answers 403 where not',
    async (role) => {
      const { allowed, forbidden } = CASES[role];
      const ok = await send(gw.app, tokens[role]!, allowed);
      expect(ok.status).toBeLessThan(300);
      const no = await send(gw.app, tokens[role]!, forbidden);
      expect(no.status).toBe(403);
      expect(no.body).toMatchObject({ type: 'forbidden', status: 403 });
    },
  );

  it('checks 401 before 403 before 400', async () => {
    const anon = await request(gw.app).post('/v1/users').set('X-Forwarded-For', '198.19.0.1').send({});
    expect(anon.status).toBe(401);
    const viewer = await request(gw.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${tokens.viewer!}`)
      .send({});
    expect(viewer.status).toBe(403);
    const admin = await request(gw.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .send({});
    expect(admin.status).toBe(400);
  });

  it('covers every permission-guarded route of the table for a role without it', async () => {
    for (const route of ROUTES.filter((r) => r.access !== 'public' && r.access !== 'authenticated')) {
      const path = route.path.replace(':id', ID).replace(':period', '2026-01');
      const agent = request(gw.app);
      const res = await agent[route.method](path).set('Authorization', `Bearer ${tokens.viewer!}`).send({});
      if (route.access === 'inventory:read' || route.access === 'accounting:read')
        expect(res.status).not.toBe(403);
      else expect([route.method, route.path, res.status]).toEqual([route.method, route.path, 403]);
    }
  });

  it('lets only the platform admin provision tenants and see failed jobs', async () => {
    const platform = (await loginPlatform(gw.app)).access_token;
    const jobs = await request(gw.app)
      .get('/v1/admin/failed-jobs')
      .set('Authorization', `Bearer ${platform}`);
    expect(jobs.status).toBe(200);
    expect((jobs.body as Echo).identity.roles).toEqual(['admin', 'platform_admin']);
    const tenant = await request(gw.app)
      .post('/v1/platform/tenants')
      .set('Authorization', `Bearer ${adminToken}`)
      .send({ slug: 'nope', name: 'Nope', admin: { email: 'a@nope.test', password: 'nope-password-1' } });
    expect(tenant.status).toBe(403);
  });
});

describe('forwarded identity', () => {
  it('forwards a signed identity with tenant, roles, permissions, ABAC attributes and the request id, never the bearer token', async () => {
    await createUser(gw.app, adminToken, {
      email: 'limited@rbac.test',
      password: 'limited-password-1',
      roles: ['inventory_manager', 'accountant'],
      attributes: { warehouse_ids: [WAREHOUSE], approval_limit: 50_000 },
    });
    const t = (await login(gw.app, 'rbac', 'limited@rbac.test', 'limited-password-1')).access_token;
    const res = await request(gw.app)
      .post('/v1/stock/transfers?x=1')
      .set('Authorization', `Bearer ${t}`)
      .set('X-Request-Id', 'trace-abc-123')
      .set('Idempotency-Key', 'key-1')
      .set('Cookie', 'session=secret')
      .send({ from_warehouse_id: WAREHOUSE });
    expect(res.status).toBe(201);
    expect(res.headers['x-request-id']).toBe('trace-abc-123');
    const echo = res.body as Echo;
    expect(echo.path).toBe('/v1/stock/transfers?x=1');
    expect(echo.body).toEqual({ from_warehouse_id: WAREHOUSE });
    expect(echo.identity).toMatchObject({
      roles: ['inventory_manager', 'accountant'],
      attributes: { warehouse_ids: [WAREHOUSE], approval_limit: 50_000 },
      requestId: 'trace-abc-123',
    });
    expect(echo.identity.permissions).toEqual(
      expect.arrayContaining(['inventory:adjust', 'accounting:post', 'accounting:close', 'inventory:read']),
    );
    expect(echo.identity.permissions).not.toContain('users:manage');
    expect(echo.headers).toMatchObject({ 'x-request-id': 'trace-abc-123', 'idempotency-key': 'key-1' });
    expect(echo.headers.authorization).toBeUndefined();
    expect(echo.headers.cookie).toBeUndefined();
  });

  it('applies a role change at once on every instance (no re-login)', async () => {
    const id = await createUser(gw.app, adminToken, {
      email: 'promote@rbac.test',
      password: 'promote-password',
      roles: ['viewer'],
    });
    const t = (await login(gw.app, 'rbac', 'promote@rbac.test', 'promote-password')).access_token;
    // Warm both instances' caches.
    expect(
      (await request(gw2.app).post('/v1/warehouses').set('Authorization', `Bearer ${t}`).send({})).status,
    ).toBe(403);
    expect(
      (await request(gw.app).post('/v1/warehouses').set('Authorization', `Bearer ${t}`).send({})).status,
    ).toBe(403);
    await request(gw.app)
      .patch(`/v1/users/${id}`)
      .set('Authorization', `Bearer ${adminToken}`)
      .send({ roles: ['sales_clerk'] })
      .expect(200);
    expect(
      (await request(gw2.app).post('/v1/warehouses').set('Authorization', `Bearer ${t}`).send({})).status,
    ).toBe(201);
    const patched = await request(gw.app)
      .patch(`/v1/users/${id}`)
      .set('Authorization', `Bearer ${adminToken}`)
      .send({ attributes: { warehouse_ids: [WAREHOUSE] } });
    expect(patched.body.attributes).toEqual({ warehouse_ids: [WAREHOUSE] });
    const echo = (await request(gw2.app).post('/v1/warehouses').set('Authorization', `Bearer ${t}`).send({}))
      .body as Echo;
    expect(echo.identity.attributes).toEqual({ warehouse_ids: [WAREHOUSE] });
  });
});

describe('user management', () => {
  it('creates users without ever showing a password hash, 409 on a duplicate email in any case, 400 on an unknown role', async () => {
    const res = await request(gw.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .send({ email: 'Dup@rbac.test', password: 'dup-password-1', roles: ['viewer'] });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(String),
      email: 'Dup@rbac.test',
      roles: ['viewer'],
      attributes: {},
      disabled: false,
      created_at: expect.any(String),
    });
    expect(JSON.stringify(res.body)).not.toMatch(/scrypt|password/);
    const dup = await request(gw.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .send({ email: 'dup@RBAC.test', password: 'dup-password-2', roles: [] });
    expect(dup.status).toBe(409);
    expect(dup.body.type).toBe('conflict');
    const bad = await request(gw.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .send({ email: 'x@rbac.test', password: 'x-password-1', roles: ['superuser'] });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toMatch(/^roles/);
    const short = await request(gw.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .send({ email: 'y@rbac.test', password: 'short', roles: [] });
    expect(short.status).toBe(400);
    const list = await request(gw.app)
      .get('/v1/users?limit=200')
      .set('Authorization', `Bearer ${adminToken}`);
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toMatch(/scrypt|password_hash/);
    const one = await request(gw.app)
      .get(`/v1/users/${res.body.id}`)
      .set('Authorization', `Bearer ${adminToken}`);
    expect(one.body).toEqual(res.body);
  });

  it('pages users by email with a cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?limit=3&cursor=${encodeURIComponent(cursor)}` : '?limit=3';
      const res = await request(gw.app).get(`/v1/users${q}`).set('Authorization', `Bearer ${adminToken}`);
      expect(res.status).toBe(200);
      seen.push(...(res.body.data as { email: string }[]).map((u) => u.email.toLowerCase()));
      cursor = res.body.next_cursor as string | null;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThan(6);
  });

  it('answers 404 for an unknown or malformed id and for another tenant’s user', async () => {
    const platform = (await loginPlatform(gw.app)).access_token;
    await createTenant(gw.app, platform, 'other', 'admin@other.test', 'other-admin-pass');
    const other = (await login(gw.app, 'other', 'admin@other.test', 'other-admin-pass')).access_token;
    const mine = await request(gw.app).get('/v1/users?limit=1').set('Authorization', `Bearer ${adminToken}`);
    const id = mine.body.data[0].id as string;
    expect(
      (await request(gw.app).get(`/v1/users/${id}`).set('Authorization', `Bearer ${other}`)).status,
    ).toBe(404);
    expect(
      (
        await request(gw.app)
          .patch(`/v1/users/${id}`)
          .set('Authorization', `Bearer ${other}`)
          .send({ disabled: true })
      ).status,
    ).toBe(404);
    expect(
      (await request(gw.app).get('/v1/users/not-a-uuid').set('Authorization', `Bearer ${adminToken}`)).status,
    ).toBe(404);
    expect(
      (await request(gw.app).get(`/v1/users/${ID}`).set('Authorization', `Bearer ${adminToken}`)).status,
    ).toBe(404);
  });

  it('replays POST /v1/users with the same Idempotency-Key and refuses a different body', async () => {
    const body = { email: 'idem@rbac.test', password: 'idem-password-1', roles: ['viewer'] };
    const first = await request(gw.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .set('Idempotency-Key', 'u-1')
      .send(body);
    const again = await request(gw2.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .set('Idempotency-Key', 'u-1')
      .send(body);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    const other = await request(gw.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .set('Idempotency-Key', 'u-1')
      .send({ ...body, roles: [] });
    expect(other.status).toBe(422);
    const badKey = await request(gw.app)
      .post('/v1/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .set('Idempotency-Key', 'k'.repeat(256))
      .send(body);
    expect(badKey.status).toBe(400);
  });

  it('provisions a tenant once per Idempotency-Key and answers 409 for a taken slug', async () => {
    const platform = (await loginPlatform(gw.app)).access_token;
    const body = {
      slug: 'idem-co',
      name: 'Idem Co',
      admin: { email: 'a@idem.test', password: 'idem-admin-pass' },
    };
    const first = await request(gw.app)
      .post('/v1/platform/tenants')
      .set('Authorization', `Bearer ${platform}`)
      .set('Idempotency-Key', 't-1')
      .send(body);
    const again = await request(gw2.app)
      .post('/v1/platform/tenants')
      .set('Authorization', `Bearer ${platform}`)
      .set('Idempotency-Key', 't-1')
      .send(body);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ id: expect.any(String), slug: 'idem-co', name: 'Idem Co' });
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const taken = await request(gw.app)
      .post('/v1/platform/tenants')
      .set('Authorization', `Bearer ${platform}`)
      .send(body);
    expect(taken.status).toBe(409);
    const reserved = await request(gw.app)
      .post('/v1/platform/tenants')
      .set('Authorization', `Bearer ${platform}`)
      .send({ ...body, slug: 'platform' });
    expect(reserved.status).toBe(409);
    await login(gw.app, 'idem-co', 'a@idem.test', 'idem-admin-pass');
  });
});
