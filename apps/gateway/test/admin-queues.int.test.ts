import request from 'supertest';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  createEnv,
  createTenant,
  login,
  loginPlatform,
  nextIp,
  type Env,
  type Instance,
} from './helpers';

let env: Env;
let gw: Instance;

beforeAll(async () => {
  env = await createEnv('queues');
  gw = await env.start({}, { queues: true });
});

afterAll(() => env.close());

const basic = (email: string, password: string) =>
  `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;

describe('/admin/queues', () => {
  it('shows the bull-board dashboard of high, default and low to the platform admin by bearer token', async () => {
    const token = (await loginPlatform(gw.app)).access_token;
    const page = await request(gw.app).get('/admin/queues').set('Authorization', `Bearer ${token}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/html/);
    const api = await request(gw.app).get('/admin/queues/api/queues').set('Authorization', `Bearer ${token}`);
    expect(api.status).toBe(200);
    expect((api.body as { queues: { name: string }[] }).queues.map((q) => q.name).sort()).toEqual([
      'default',
      'high',
      'low',
    ]);
  });

  it('accepts HTTP Basic with the platform admin’s email and password', async () => {
    const res = await request(gw.app)
      .get('/admin/queues/api/queues')
      .set('X-Forwarded-For', nextIp())
      .set('Authorization', basic(ADMIN_EMAIL, ADMIN_PASSWORD));
    expect(res.status).toBe(200);
  });

  it('asks for credentials (401 + WWW-Authenticate) without or with wrong ones, and refuses tenant admins (403)', async () => {
    const none = await request(gw.app).get('/admin/queues').set('X-Forwarded-For', nextIp());
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm=/);
    const wrong = await request(gw.app)
      .get('/admin/queues')
      .set('X-Forwarded-For', nextIp())
      .set('Authorization', basic(ADMIN_EMAIL, 'wrong-password-1'));
    expect(wrong.status).toBe(401);
    const platform = (await loginPlatform(gw.app)).access_token;
    await createTenant(gw.app, platform, 'qt', 'admin@qt.test', 'qt-admin-password');
    const tenantAdmin = (await login(gw.app, 'qt', 'admin@qt.test', 'qt-admin-password')).access_token;
    const forbidden = await request(gw.app)
      .get('/admin/queues')
      .set('Authorization', `Bearer ${tenantAdmin}`);
    expect(forbidden.status).toBe(403);
    const basicTenant = await request(gw.app)
      .get('/admin/queues')
      .set('X-Forwarded-For', nextIp())
      .set('Authorization', basic('admin@qt.test', 'qt-admin-password'));
    expect(basicTenant.status).toBe(401);
  });
});
