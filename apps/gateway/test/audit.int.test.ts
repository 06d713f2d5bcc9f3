import request from 'supertest';
import { decodeCursor, encodeCursor, type AuditEventOut } from '@kv/api-contract';
import {
  createEnv,
  createTenant,
  createUser,
  login,
  loginPlatform,
  startStandIn,
  type Env,
  type Instance,
  type StandIn,
} from './helpers';

let env: Env;
let gw: Instance;
let inventory: StandIn;
let accounting: StandIn;
let token: string;
let tenantId: string;

/** Serves `events` like a service using @kv/audit's listAudit: newest first, keyset cursor {at, id}. */
function serveAudit(stand: StandIn, events: () => AuditEventOut[]): void {
  stand.behaviour = (req, res) => {
    if (!req.path.startsWith('/v1/audit-events')) return false;
    const q = req.query as Record<string, string | undefined>;
    const limit = Number(q.limit ?? 50);
    let rows = [...events()].sort((a, b) => (a.at !== b.at ? (a.at < b.at ? 1 : -1) : a.id < b.id ? 1 : -1));
    if (q.entity_type) rows = rows.filter((e) => e.entity_type === q.entity_type);
    if (q.entity_id) rows = rows.filter((e) => e.entity_id === q.entity_id);
    const c = q.cursor ? decodeCursor(q.cursor) : undefined;
    if (c) rows = rows.filter((e) => e.at < String(c.at) || (e.at === String(c.at) && e.id < String(c.id)));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    res.json({
      data: page,
      next_cursor: rows.length > limit && last ? encodeCursor({ at: last.at, id: last.id }) : null,
    });
    return true;
  };
}

function fakeEvents(type: string, n: number, startMs: number, stepMs: number): AuditEventOut[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(startMs + i).padStart(12, '0')}`,
    actor_id: null,
    action: `${type}.create`,
    entity_type: type,
    entity_id: `${type}-${i}`,
    request_id: null,
    at: new Date(startMs + i * stepMs).toISOString(),
    changes: {},
  }));
}

const now = Date.now();
const invEvents = fakeEvents('product', 7, now - 100_000, 7_000);
const accEvents = fakeEvents('account', 5, now - 95_000, 11_000);

beforeAll(async () => {
  inventory = await startStandIn();
  accounting = await startStandIn();
  serveAudit(inventory, () => invEvents);
  serveAudit(accounting, () => accEvents);
  env = await createEnv('audit', { INVENTORY_URL: inventory.url, ACCOUNTING_URL: accounting.url });
  gw = await env.start();
  const platform = await loginPlatform(gw.app);
  tenantId = await createTenant(gw.app, platform.access_token, 'aud', 'admin@aud.test', 'aud-admin-password');
  token = (await login(gw.app, 'aud', 'admin@aud.test', 'aud-admin-password')).access_token;
  await createUser(gw.app, token, { email: 'u1@aud.test', password: 'u1-password-1', roles: ['auditor'] });
  await createUser(gw.app, token, { email: 'u2@aud.test', password: 'u2-password-1', roles: ['viewer'] });
});

afterAll(async () => {
  await env.close();
  await Promise.allSettled([inventory.close(), accounting.close()]);
});

const get = (path: string) => request(gw.app).get(path).set('Authorization', `Bearer ${token}`);

describe('GET /v1/audit-events', () => {
  it('serves tenant and user events from the gateway’s own trail, written with each change', async () => {
    const res = await get('/v1/audit-events?entity_type=user');
    expect(res.status).toBe(200);
    const actions = (res.body.data as AuditEventOut[]).map((e) => e.action);
    expect(actions).toEqual(['user.create', 'user.create', 'user.create']);
    const tenant = await get(`/v1/audit-events?entity_type=tenant&entity_id=${tenantId}`);
    expect(tenant.body.data).toHaveLength(1);
    expect(tenant.body.data[0]).toMatchObject({
      action: 'tenant.create',
      entity_id: tenantId,
      actor_id: expect.any(String),
    });
  });

  it('routes other entity types to the owning service', async () => {
    const res = await get('/v1/audit-events?entity_type=product&limit=2');
    expect(res.status).toBe(200);
    expect(res.body.data).toHaveLength(2);
    expect(res.body.data[0].entity_type).toBe('product');
    const acc = await get('/v1/audit-events?entity_type=account');
    expect(acc.body.data).toHaveLength(5);
  });

  it('merges the three trails newest first and pages through all of them exactly once', async () => {
    const seen: AuditEventOut[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(
        `/v1/audit-events?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(4);
      seen.push(...(res.body.data as AuditEventOut[]));
      cursor = res.body.next_cursor as string | null;
      pages += 1;
    } while (cursor && pages < 20);
    const local = (await get('/v1/audit-events?entity_type=user')).body.data.length + 1;
    expect(seen).toHaveLength(invEvents.length + accEvents.length + local);
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    const order = seen.map((e) => `${e.at}|${e.id}`);
    expect(order).toEqual([...order].sort().reverse());
    expect(seen.filter((e) => e.entity_type === 'product')).toHaveLength(7);
  });

  it('refuses an unknown entity type and a foreign cursor with 400, and needs audit:read', async () => {
    expect((await get('/v1/audit-events?entity_type=spaceship')).status).toBe(400);
    expect((await get(`/v1/audit-events?cursor=${encodeCursor({ x: 1 })}`)).status).toBe(400);
    const viewer = (await login(gw.app, 'aud', 'u2@aud.test', 'u2-password-1')).access_token;
    expect(
      (await request(gw.app).get('/v1/audit-events').set('Authorization', `Bearer ${viewer}`)).status,
    ).toBe(403);
    const auditor = (await login(gw.app, 'aud', 'u1@aud.test', 'u1-password-1')).access_token;
    expect(
      (await request(gw.app).get('/v1/audit-events').set('Authorization', `Bearer ${auditor}`)).status,
    ).toBe(200);
  });

  it('answers 503 (not a silently partial page) when a service is down', async () => {
    await accounting.close();
    const res = await get('/v1/audit-events');
    expect(res.status).toBe(503);
    expect(res.body.type).toBe('unavailable');
    await accounting.reopen();
  });

  it('records user changes with before and after', async () => {
    const id = await createUser(gw.app, token, {
      email: 'u3@aud.test',
      password: 'u3-password-1',
      roles: ['viewer'],
    });
    await request(gw.app)
      .patch(`/v1/users/${id}`)
      .set('Authorization', `Bearer ${token}`)
      .send({ roles: ['auditor'], disabled: true })
      .expect(200);
    const res = await get(`/v1/audit-events?entity_type=user&entity_id=${id}`);
    expect(res.body.data.map((e: AuditEventOut) => e.action)).toEqual(['user.disable', 'user.create']);
    expect(res.body.data[0].changes).toEqual({
      before: { roles: ['viewer'], attributes: {}, disabled: false },
      after: { roles: ['auditor'], attributes: {}, disabled: true },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/password/);
  });
});
