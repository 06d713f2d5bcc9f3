import { generateKeyPairSync, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import {
  JWT_SECRET,
  createEnv,
  createTenant,
  createUser,
  login,
  loginPlatform,
  nextIp,
  signRaw,
  type Env,
  type Instance,
} from './helpers';

let env: Env;
let a: Instance;
let b: Instance;
let platformToken: string;
const PASSWORD = 'correct-horse-battery';

beforeAll(async () => {
  env = await createEnv('auth', { ACCESS_TOKEN_TTL_S: '60' });
  a = await env.start();
  b = await env.start();
  platformToken = (await loginPlatform(a.app)).access_token;
  await createTenant(a.app, platformToken, 'acme', 'Boss@Acme.test', PASSWORD);
  await createTenant(a.app, platformToken, 'globex', 'boss@acme.test', 'another-password-1');
});

afterAll(() => env.close());

const me = (app: Instance['app'], token: string) =>
  request(app).get('/v1/auth/me').set('Authorization', `Bearer ${token}`);

describe('login', () => {
  it('returns bearer tokens for the right password and the caller on /me', async () => {
    const res = await request(a.app)
      .post('/v1/auth/login')
      .set('X-Forwarded-For', nextIp())
      .send({ tenant: 'acme', email: 'boss@acme.test', password: PASSWORD });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 60,
    });
    expect(res.headers['cache-control']).toBe('no-store');
    const who = await me(a.app, res.body.access_token);
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ email: 'Boss@Acme.test', roles: ['admin'], attributes: {} });
    expect(who.body.permissions).toContain('users:manage');
  });

  it('refuses a wrong password, an unknown email and the wrong tenant with the same 401', async () => {
    const cases = [
      { tenant: 'acme', email: 'boss@acme.test', password: 'wrong-password-123' },
      { tenant: 'acme', email: 'nobody@acme.test', password: PASSWORD },
      { tenant: 'no-such-tenant', email: 'boss@acme.test', password: PASSWORD },
      { tenant: 'platform', email: 'boss@acme.test', password: PASSWORD },
    ];
    for (const body of cases) {
      const res = await request(a.app).post('/v1/auth/login').set('X-Forwarded-For', nextIp()).send(body);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({
        type: 'unauthenticated',
        status: 401,
        detail: 'The tenant, email or password is wrong.',
      });
    }
  });

  it('compares emails case-insensitively', async () => {
    const t = await login(a.app, 'acme', 'BOSS@ACME.TEST', PASSWORD);
    expect((await me(a.app, t.access_token)).status).toBe(200);
  });

  it('keeps the same email apart in two tenants', async () => {
    const acme = await login(a.app, 'acme', 'boss@acme.test', PASSWORD);
    const globex = await login(a.app, 'globex', 'boss@acme.test', 'another-password-1');
    const [m1, m2] = await Promise.all([me(a.app, acme.access_token), me(a.app, globex.access_token)]);
    expect(m1.body.tenant_id).not.toBe(m2.body.tenant_id);
    expect(m1.body.user_id).not.toBe(m2.body.user_id);
    const wrong = await request(a.app)
      .post('/v1/auth/login')
      .set('X-Forwarded-For', nextIp())
      .send({ tenant: 'globex', email: 'boss@acme.test', password: PASSWORD });
    expect(wrong.status).toBe(401);
  });

  it('rejects a malformed login body with 400', async () => {
    const res = await request(a.app)
      .post('/v1/auth/login')
      .set('X-Forwarded-For', nextIp())
      .send({ tenant: 'acme' });
    expect(res.status).toBe(400);
    expect(res.body.errors.length).toBeGreaterThan(0);
  });
});

describe('refresh', () => {
  it('rotates: the new refresh token works once, the old one stops working', async () => {
    const first = await login(a.app, 'acme', 'boss@acme.test', PASSWORD);
    const r1 = await request(a.app)
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', nextIp())
      .send({ refresh_token: first.refresh_token });
    expect(r1.status).toBe(200);
    expect(r1.body.refresh_token).not.toBe(first.refresh_token);
    expect((await me(b.app, r1.body.access_token)).status).toBe(200);
    const r2 = await request(b.app)
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', nextIp())
      .send({ refresh_token: r1.body.refresh_token });
    expect(r2.status).toBe(200);
  });

  it('revokes the whole session when an already rotated refresh token comes back', async () => {
    const first = await login(a.app, 'acme', 'boss@acme.test', PASSWORD);
    const rotated = await request(a.app)
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', nextIp())
      .send({ refresh_token: first.refresh_token });
    expect(rotated.status).toBe(200);
    const replay = await request(b.app)
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', nextIp())
      .send({ refresh_token: first.refresh_token });
    expect(replay.status).toBe(401);
    expect(replay.body.detail).toMatch(/already used/);
    // The legitimate holder's newer tokens die with the session.
    const next = await request(a.app)
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', nextIp())
      .send({ refresh_token: rotated.body.refresh_token });
    expect(next.status).toBe(401);
    expect((await me(a.app, rotated.body.access_token)).status).toBe(401);
    expect((await me(b.app, first.access_token)).status).toBe(401);
  });

  it('never accepts an access token as a refresh token', async () => {
    const t = await login(a.app, 'acme', 'boss@acme.test', PASSWORD);
    const res = await request(a.app)
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', nextIp())
      .send({ refresh_token: t.access_token });
    expect(res.status).toBe(401);
  });
});

describe('logout', () => {
  it('revokes the access token and its refresh token on every instance at once', async () => {
    const t = await login(a.app, 'acme', 'boss@acme.test', PASSWORD);
    expect((await me(b.app, t.access_token)).status).toBe(200);
    const out = await request(a.app).post('/v1/auth/logout').set('Authorization', `Bearer ${t.access_token}`);
    expect(out.status).toBe(204);
    expect((await me(b.app, t.access_token)).status).toBe(401);
    expect((await me(a.app, t.access_token)).status).toBe(401);
    const refresh = await request(b.app)
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', nextIp())
      .send({ refresh_token: t.refresh_token });
    expect(refresh.status).toBe(401);
  });

  it('needs a token', async () => {
    expect((await request(a.app).post('/v1/auth/logout').set('X-Forwarded-For', nextIp())).status).toBe(401);
  });
});

describe('disabled users', () => {
  it('stops their tokens on every instance and refuses their login and refresh', async () => {
    const admin = await login(a.app, 'acme', 'boss@acme.test', PASSWORD);
    const id = await createUser(a.app, admin.access_token, {
      email: 'temp@acme.test',
      password: 'temporary-pass-1',
      roles: ['viewer'],
    });
    const t = await login(a.app, 'acme', 'temp@acme.test', 'temporary-pass-1');
    expect((await me(b.app, t.access_token)).status).toBe(200);
    const patch = await request(a.app)
      .patch(`/v1/users/${id}`)
      .set('Authorization', `Bearer ${admin.access_token}`)
      .send({ disabled: true });
    expect(patch.status).toBe(200);
    expect(patch.body.disabled).toBe(true);
    expect((await me(b.app, t.access_token)).status).toBe(401);
    expect((await me(a.app, t.access_token)).status).toBe(401);
    const refresh = await request(b.app)
      .post('/v1/auth/refresh')
      .set('X-Forwarded-For', nextIp())
      .send({ refresh_token: t.refresh_token });
    expect(refresh.status).toBe(401);
    const again = await request(a.app)
      .post('/v1/auth/login')
      .set('X-Forwarded-For', nextIp())
      .send({ tenant: 'acme', email: 'temp@acme.test', password: 'temporary-pass-1' });
    expect(again.status).toBe(401);
    // Re-enabling does not resurrect old tokens, but a new login works.
    await request(a.app)
      .patch(`/v1/users/${id}`)
      .set('Authorization', `Bearer ${admin.access_token}`)
      .send({ disabled: false })
      .expect(200);
    expect((await me(b.app, t.access_token)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 1100));
    const fresh = await login(a.app, 'acme', 'temp@acme.test', 'temporary-pass-1');
    expect((await me(b.app, fresh.access_token)).status).toBe(200);
  });
});

describe('access token verification', () => {
  let good: { sub: string; tid: string; sid: string };

  beforeAll(async () => {
    const t = await login(a.app, 'acme', 'boss@acme.test', PASSWORD);
    const claims = jwt.decode(t.access_token) as { sub: string; tid: string; sid: string };
    good = { sub: claims.sub, tid: claims.tid, sid: claims.sid };
  });

  const claims = (extra: Record<string, unknown> = {}) => ({
    typ: 'access',
    ...good,
    jti: randomUUID(),
    ...extra,
  });
  const opts = { issuer: 'kv-erp', audience: 'kv-erp-api', expiresIn: 60 } as const;

  it('accepts a correctly signed token (control)', async () => {
    expect((await me(a.app, signRaw(claims(), opts))).status).toBe(200);
  });

  it('refuses a tampered signature', async () => {
    const token = signRaw(claims(), opts);
    const [h, p, s] = token.split('.');
    const flipped = `${s!.slice(0, -2)}${s!.slice(-2) === 'AA' ? 'BB' : 'AA'}`;
    expect((await me(a.app, `${h}.${p}.${flipped}`)).status).toBe(401);
    // A changed payload with the old signature.
    const payload = Buffer.from(
      JSON.stringify({
        ...claims(),
        tid: randomUUID(),
        iss: 'kv-erp',
        aud: 'kv-erp-api',
        exp: Math.floor(Date.now() / 1000) + 60,
      }),
    ).toString('base64url');
    expect((await me(a.app, `${h}.${payload}.${s}`)).status).toBe(401);
  });

  it('refuses alg none', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({
        ...claims(),
        iss: 'kv-erp',
        aud: 'kv-erp-api',
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 60,
      }),
    ).toString('base64url');
    expect((await me(a.app, `${header}.${payload}.`)).status).toBe(401);
    expect((await me(a.app, `${header}.${payload}`)).status).toBe(401);
  });

  it('refuses an expired token', async () => {
    const past = Math.floor(Date.now() / 1000) - 120;
    const token = signRaw(
      { ...claims(), iat: past, exp: past + 60 },
      { issuer: 'kv-erp', audience: 'kv-erp-api' },
    );
    const res = await me(a.app, token);
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/expired/);
  });

  it('refuses the wrong audience or issuer', async () => {
    expect((await me(a.app, signRaw(claims(), { ...opts, audience: 'someone-else' }))).status).toBe(401);
    expect((await me(a.app, signRaw(claims(), { ...opts, issuer: 'evil' }))).status).toBe(401);
  });

  it('refuses a refresh token used as an access token', async () => {
    const t = await login(a.app, 'acme', 'boss@acme.test', PASSWORD);
    expect((await me(a.app, t.refresh_token)).status).toBe(401);
    expect((await me(a.app, signRaw(claims({ typ: 'refresh' }), opts))).status).toBe(401);
    expect((await me(a.app, signRaw(claims({ typ: undefined }), opts))).status).toBe(401);
  });

  it('refuses a token signed with another secret and garbage', async () => {
    expect((await me(a.app, signRaw(claims(), opts, `${JWT_SECRET}x`))).status).toBe(401);
    expect((await me(a.app, 'not-a-jwt')).status).toBe(401);
    const res = await request(a.app).get('/v1/auth/me').set('Authorization', 'Basic abc');
    expect(res.status).toBe(401);
  });
});

describe('RS256', () => {
  it('issues and verifies RS256 tokens and refuses an HS256 token signed with the public key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const rs = await env.start({
      JWT_ALGORITHM: 'RS256',
      JWT_PRIVATE_KEY: privateKey.replace(/\n/g, '\\n'),
      JWT_PUBLIC_KEY: publicKey,
    });
    const t = await login(rs.app, 'acme', 'boss@acme.test', PASSWORD);
    expect((jwt.decode(t.access_token, { complete: true }) as { header: { alg: string } }).header.alg).toBe(
      'RS256',
    );
    const who = await me(rs.app, t.access_token);
    expect(who.status).toBe(200);
    const confused = jwt.sign(
      { typ: 'access', sub: who.body.user_id, tid: who.body.tenant_id, sid: randomUUID(), jti: randomUUID() },
      publicKey,
      { algorithm: 'HS256', issuer: 'kv-erp', audience: 'kv-erp-api', expiresIn: 60 },
    );
    expect((await me(rs.app, confused)).status).toBe(401);
    // An HS256 instance never accepts the RS256 token.
    expect((await me(a.app, t.access_token)).status).toBe(401);
  });
});

describe('platform admin bootstrap', () => {
  it('resets the platform admin password at start when it is set', async () => {
    const c = await env.start({ PLATFORM_ADMIN_PASSWORD: 'a-new-admin-password' });
    await login(c.app, 'platform', 'root@platform.test', 'a-new-admin-password');
    const old = await request(c.app)
      .post('/v1/auth/login')
      .set('X-Forwarded-For', nextIp())
      .send({ tenant: 'platform', email: 'root@platform.test', password: 'platform-admin-pass' });
    expect(old.status).toBe(401);
    await env.start();
    await loginPlatform(a.app);
  });
});
