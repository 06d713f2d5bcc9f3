import jwt from 'jsonwebtoken';
import { createTokenService } from '../src/domain/tokens';
import { createPasswordHasher } from '../src/domain/passwords';

const SECRET = 'unit-test-secret-0123456789abcdefghijkl';
const tokens = createTokenService({
  keys: { algorithm: 'HS256', secret: SECRET },
  accessTtlS: 60,
  refreshTtlS: 600,
});
const subject = {
  userId: '11111111-1111-4111-8111-111111111111',
  tenantId: '22222222-2222-4222-8222-222222222222',
  sessionId: '33333333-3333-4333-8333-333333333333',
};

describe('token service', () => {
  it('issues access and refresh tokens with typ, iss, aud, exp, jti and the tenant', () => {
    const t = tokens.issue(subject);
    const access = jwt.decode(t.accessToken, { complete: true }) as jwt.Jwt & { payload: jwt.JwtPayload };
    expect(access.header.alg).toBe('HS256');
    expect(access.payload).toMatchObject({
      typ: 'access',
      sub: subject.userId,
      tid: subject.tenantId,
      sid: subject.sessionId,
      iss: 'kv-erp',
      aud: 'kv-erp-api',
    });
    expect(access.payload.exp! - access.payload.iat!).toBe(60);
    expect(tokens.verifyAccess(t.accessToken).jti).toBe(t.access.jti);
    expect(tokens.verifyRefresh(t.refreshToken).jti).toBe(t.refresh.jti);
    expect(t.access.jti).not.toBe(t.refresh.jti);
  });

  it('keeps access and refresh tokens apart', () => {
    const t = tokens.issue(subject);
    expect(() => tokens.verifyAccess(t.refreshToken)).toThrow(/not an access token/);
    expect(() => tokens.verifyRefresh(t.accessToken)).toThrow(/not a refresh token/);
  });

  it('refuses alg none, other algorithms, and malformed claims', () => {
    const none = jwt.sign({ typ: 'access', ...subject }, '', { algorithm: 'none' });
    expect(() => tokens.verifyAccess(none)).toThrow();
    const hs512 = jwt.sign(
      {
        typ: 'access',
        sub: subject.userId,
        tid: subject.tenantId,
        sid: subject.sessionId,
        jti: subject.sessionId,
      },
      SECRET,
      {
        algorithm: 'HS512',
        issuer: 'kv-erp',
        audience: 'kv-erp-api',
      },
    );
    expect(() => tokens.verifyAccess(hs512)).toThrow();
    const badSub = jwt.sign(
      {
        typ: 'access',
        sub: 'not-a-uuid',
        tid: subject.tenantId,
        sid: subject.sessionId,
        jti: subject.sessionId,
      },
      SECRET,
      {
        issuer: 'kv-erp',
        audience: 'kv-erp-api',
      },
    );
    expect(() => tokens.verifyAccess(badSub)).toThrow(/malformed/);
  });

  it('refuses a short HS256 secret at construction', () => {
    expect(() =>
      createTokenService({ keys: { algorithm: 'HS256', secret: 'short' }, accessTtlS: 60, refreshTtlS: 60 }),
    ).toThrow(/32/);
  });
});

describe('password hasher', () => {
  const hasher = createPasswordHasher({ N: 1024, r: 8, p: 1 });

  it('verifies the right password only, with a per-hash salt', async () => {
    const h1 = await hasher.hash('correct horse battery');
    const h2 = await hasher.hash('correct horse battery');
    expect(h1).not.toBe(h2);
    expect(h1).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(await hasher.verify('correct horse battery', h1)).toBe(true);
    expect(await hasher.verify('correct horse batterY', h1)).toBe(false);
    expect(await hasher.verify('x', 'not-a-hash')).toBe(false);
  });

  it('verifies hashes made with other parameters', async () => {
    const strong = createPasswordHasher({ N: 2048, r: 8, p: 1 });
    expect(await hasher.verify('pw-1234567890', await strong.hash('pw-1234567890'))).toBe(true);
  });
});
