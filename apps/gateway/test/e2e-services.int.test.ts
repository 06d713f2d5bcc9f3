import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import type { AuditEventOut } from '@kv/api-contract';
import { DEFAULT_REDIS_URL, freePort, uniquePrefix, waitFor } from '@kv/testing';
import {
  INTERNAL_SECRET,
  createEnv,
  createTenant,
  login,
  loginPlatform,
  type Env,
  type Instance,
} from './helpers';

/**
 * The gateway in front of the real inventory and accounting services (started from their sources with tsx,
 * as separate processes on free ports, sharing this file's database).
 */
const apps = path.resolve(__dirname, '../..');
const tsx = path.resolve(apps, '../node_modules/.bin/tsx');
const present = ['inventory', 'accounting'].every((a) => existsSync(path.join(apps, a, 'src/main.ts')));
const maybe = present ? describe : describe.skip;

let env: Env;
let gw: Instance;
const children: ChildProcess[] = [];
const logs: string[] = [];

async function startService(name: string, extra: Record<string, string>): Promise<string> {
  const port = await freePort();
  const child = spawn(tsx, ['--conditions=@kv/source', 'src/main.ts'], {
    cwd: path.join(apps, name),
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      LOG_LEVEL: 'error',
      DATABASE_URL: env.db.urls.app,
      DATABASE_OWNER_URL: env.db.urls.owner,
      DATABASE_SYSTEM_URL: env.db.urls.system,
      INTERNAL_SECRET,
      MIGRATE_ON_START: 'true',
      ...extra,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (d: Buffer) => logs.push(`${name}: ${d.toString()}`));
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/health/live`)).status === 200, 60_000, 200).catch(
    (err: unknown) => {
      throw new Error(`${name} did not start: ${String(err)}\n${logs.join('')}`);
    },
  );
  return url;
}

maybe('through the real services', () => {
  let token: string;
  let inventoryUrl: string;

  beforeAll(async () => {
    env = await createEnv('e2e');
    inventoryUrl = await startService('inventory', {});
    const accountingUrl = await startService('accounting', {
      REDIS_URL: DEFAULT_REDIS_URL,
      REDIS_PREFIX: uniquePrefix('gwe2eacc'),
    });
    gw = await env.start({ INVENTORY_URL: inventoryUrl, ACCOUNTING_URL: accountingUrl });
    const platform = await loginPlatform(gw.app);
    await createTenant(gw.app, platform.access_token, 'e2e', 'admin@e2e.test', 'e2e-admin-password');
    token = (await login(gw.app, 'e2e', 'admin@e2e.test', 'e2e-admin-password')).access_token;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
    await env?.close();
  });

  const auth = () => ({ Authorization: `Bearer ${token}` });

  it('creates and lists inventory through the gateway; the service refuses direct calls without the identity', async () => {
    const w = await request(gw.app)
      .post('/v1/warehouses')
      .set(auth())
      .set('Idempotency-Key', 'w-1')
      .send({ code: 'MAIN', name: 'Main' });
    expect(w.status).toBe(201);
    const again = await request(gw.app)
      .post('/v1/warehouses')
      .set(auth())
      .set('Idempotency-Key', 'w-1')
      .send({ code: 'MAIN', name: 'Main' });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(w.body);
    const p = await request(gw.app).post('/v1/products').set(auth()).send({ sku: 'SKU-1', name: 'Thing' });
    expect(p.status).toBe(201);
    const list = await request(gw.app).get('/v1/products').set(auth());
    expect(list.status).toBe(200);
    expect(list.body.data.map((x: { sku: string }) => x.sku)).toEqual(['SKU-1']);
    const invalid = await request(gw.app).post('/v1/products').set(auth()).send({ sku: 5 });
    expect(invalid.status).toBe(400);
    expect(invalid.body.type).toBe('validation-error');
    const direct = await fetch(`${inventoryUrl}/v1/products`);
    expect(direct.status).toBe(401);
  });

  it('lists accounting data and merges the three real audit trails newest first', async () => {
    const accounts = await request(gw.app).get('/v1/accounts').set(auth());
    expect(accounts.status).toBe(200);
    const seen: AuditEventOut[] = [];
    let cursor: string | null = null;
    do {
      const res = await request(gw.app)
        .get(`/v1/audit-events?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        .set(auth());
      expect(res.status).toBe(200);
      seen.push(...(res.body.data as AuditEventOut[]));
      cursor = res.body.next_cursor as string | null;
    } while (cursor);
    const types = new Set(seen.map((e) => e.entity_type));
    expect([...types]).toEqual(expect.arrayContaining(['tenant', 'user', 'warehouse', 'product']));
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    const order = seen.map((e) => `${e.at}|${e.id}`);
    expect(order).toEqual([...order].sort().reverse());
    const products = await request(gw.app).get('/v1/audit-events?entity_type=product').set(auth());
    expect(products.status).toBe(200);
    expect(products.body.data).toHaveLength(1);
  });
});
