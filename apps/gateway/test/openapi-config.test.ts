import { ROUTES } from '@kv/api-contract';
import { ConfigError, loadConfig } from '@kv/config';
import { configSchema } from '../src/config';
import { buildOpenApi, toOpenApiPath } from '../src/openapi';

const base = {
  DATABASE_URL: 'postgres://kv_app@127.0.0.1/x',
  DATABASE_OWNER_URL: 'postgres://kv_owner@127.0.0.1/x',
  DATABASE_SYSTEM_URL: 'postgres://kv_system@127.0.0.1/x',
  REDIS_URL: 'redis://127.0.0.1:6379',
  INTERNAL_SECRET: 'i'.repeat(32),
  JWT_SECRET: 'j'.repeat(32),
};

describe('config', () => {
  it('applies the contract defaults', () => {
    const c = loadConfig(configSchema, base);
    expect(c).toMatchObject({
      PORT: 8080,
      ACCESS_TOKEN_TTL_S: 900,
      REFRESH_TOKEN_TTL_S: 1_209_600,
      RATE_LIMIT_IP_PER_MIN: 60,
      RATE_LIMIT_LOGIN_PER_MIN: 10,
      RATE_LIMIT_USER_PER_MIN: 600,
      RATE_LIMIT_TENANT_PER_MIN: 6000,
      TRUSTED_PROXIES: ['127.0.0.1', '::1'],
      PLATFORM_ADMIN_EMAIL: 'admin@platform.local',
      CORS_ORIGINS: [],
    });
  });

  it('fails fast naming the bad variable, never its value', () => {
    const secret = 'short-secret-value';
    try {
      loadConfig(configSchema, { ...base, JWT_SECRET: secret, ACCESS_TOKEN_TTL_S: '3600' });
      throw new Error('should have failed');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variables.sort()).toEqual(['ACCESS_TOKEN_TTL_S', 'JWT_SECRET']);
      expect((err as Error).message).not.toContain(secret);
    }
  });

  it('requires the key pair for RS256 and the owner URL when migrating at start', () => {
    expect(() => loadConfig(configSchema, { ...base, JWT_ALGORITHM: 'RS256' })).toThrow(
      /JWT_PRIVATE_KEY.*JWT_PUBLIC_KEY|JWT_PUBLIC_KEY.*JWT_PRIVATE_KEY/,
    );
    const { DATABASE_OWNER_URL: _owner, ...withoutOwner } = base;
    expect(() => loadConfig(configSchema, withoutOwner)).toThrow(/DATABASE_OWNER_URL/);
    expect(() => loadConfig(configSchema, { ...withoutOwner, MIGRATE_ON_START: 'false' })).not.toThrow();
  });
});

describe('OpenAPI', () => {
  const doc = buildOpenApi(ROUTES) as {
    paths: Record<string, Record<string, Record<string, unknown>>>;
    components: { schemas: Record<string, unknown> };
  };

  it('has one operation per route with unique operation ids and its access rule', () => {
    const ids = new Set<string>();
    for (const r of ROUTES) {
      const op = doc.paths[toOpenApiPath(r.path)]![r.method]!;
      expect(op['x-access']).toBe(r.access);
      ids.add(op.operationId as string);
    }
    expect(ids.size).toBe(ROUTES.length);
  });

  it('documents public routes without security and the others with bearer auth and Idempotency-Key where accepted', () => {
    const login = doc.paths['/v1/auth/login']!.post!;
    expect(login.security).toEqual([]);
    const create = doc.paths['/v1/users']!.post!;
    expect(create.security).toEqual([{ bearerAuth: [] }]);
    expect(create.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'Idempotency-Key', in: 'header' })]),
    );
    expect((create.responses as Record<string, unknown>)['401']).toBeDefined();
  });
});
