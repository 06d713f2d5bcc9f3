import { Client } from 'pg';
import Redis from 'ioredis';
import { createTestDatabase, DEFAULT_REDIS_URL, deleteKeys, startPrivateRedis, uniquePrefix } from '../src';

describe('testing fixtures', () => {
  it('creates an isolated database the app role can reach but not own', async () => {
    const db = await createTestDatabase('fixture');
    try {
      const c = new Client({ connectionString: db.urls.app });
      await c.connect();
      const { rows } = await c.query('SELECT current_user AS u, current_database() AS d');
      expect(rows[0]).toEqual({ u: 'kv_app', d: db.name });
      await expect(c.query('CREATE TABLE public.x (id int)')).rejects.toThrow();
      await c.end();
    } finally {
      await db.drop();
    }
  });

  it('gives unique prefixes and cleans them', async () => {
    const redis = new Redis(DEFAULT_REDIS_URL);
    const p = uniquePrefix('fx');
    expect(p).not.toBe(uniquePrefix('fx'));
    await redis.set(`${p}a`, '1');
    await deleteKeys(redis, p);
    expect(await redis.exists(`${p}a`)).toBe(0);
    redis.disconnect();
  });

  it('starts, kills and restarts a private redis', async () => {
    const r = await startPrivateRedis();
    const c = new Redis(r.url, { lazyConnect: true });
    await c.connect();
    await c.set('k', 'v');
    await r.kill();
    await r.start();
    expect(await c.get('k')).toBeNull();
    c.disconnect();
    await r.kill();
  });
});
