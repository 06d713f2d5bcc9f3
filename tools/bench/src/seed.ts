import { randomBytes, scryptSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { rows, withClient, type BenchDb } from './db';
import { expectStatus, field, newKey, type HttpClient } from './http';
import {
  accountIdSql,
  productIdSql,
  sqlTenantId,
  sqlTenantIdSql,
  sqlUserId,
  sqlUserIdSql,
  sqlWarehouseId,
  sqlWarehouseIdSql,
} from './ids';

/** A logged-in user the load sends requests as. */
export interface Session {
  /** Bench tenant number (ids of seeded rows derive from it). */
  n: number;
  tenantId: string;
  slug: string;
  userId: string;
  email: string;
  password: string;
  warehouseId: string;
  token: string;
  refreshToken: string;
  /** When the access token was issued (ms epoch). */
  issuedAt: number;
}

/** What provisioning through the API took. */
export interface ProvisioningStats {
  tenants: number;
  tenantsPerS: number;
  users: number;
  usersPerS: number;
  logins: number;
  loginsPerS: number;
  /** SQL seeding: rows per table kind and seconds. */
  sql: { what: string; rows: number; seconds: number }[];
}

const PASSWORD = 'bench-password-1234';

/** Runs `task` over `items` with at most `concurrency` in flight; results keep the order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await task(items[i]!, i);
      }
    }),
  );
  return out;
}

/** Logs a user in through the API. */
export async function login(
  http: HttpClient,
  slug: string,
  email: string,
  password: string,
): Promise<{ token: string; refreshToken: string }> {
  for (let attempt = 1; ; attempt++) {
    const r = await http.callRetrying('POST', '/v1/auth/login', { body: { tenant: slug, email, password } });
    // 503 is safe to retry (a gateway busy hashing can time out its upstreams under a login burst).
    if (r.status === 503 && attempt < 5) continue;
    expectStatus(r, [200], `login ${email}@${slug}`);
    return {
      token: field(r.body, 'access_token', 'login'),
      refreshToken: field(r.body, 'refresh_token', 'login'),
    };
  }
}

/** Refreshes sessions whose access token is older than `maxAgeMs` (tokens live 15 min). */
export async function refreshStale(
  http: HttpClient,
  sessions: Session[],
  maxAgeMs = 8 * 60_000,
): Promise<number> {
  const stale = sessions.filter((s) => Date.now() - s.issuedAt > maxAgeMs);
  await mapLimit(stale, 16, async (s) => {
    const r = await http.callRetrying('POST', '/v1/auth/refresh', {
      body: { refresh_token: s.refreshToken },
    });
    if (r.status === 200) {
      s.token = field(r.body, 'access_token', 'refresh');
      s.refreshToken = field(r.body, 'refresh_token', 'refresh');
    } else {
      const t = await login(http, s.slug, s.email, s.password);
      s.token = t.token;
      s.refreshToken = t.refreshToken;
    }
    s.issuedAt = Date.now();
  });
  return stale.length;
}

/** Creates the `bench` bookkeeping schema: tenant number → ids, readable by pgbench (as kv_app) and the owner. */
export async function prepareBenchSchema(db: BenchDb): Promise<void> {
  await withClient(db.adminUrl, async (c) => {
    await c.query(`CREATE SCHEMA IF NOT EXISTS bench`);
    await c.query(`CREATE TABLE IF NOT EXISTS bench.tenants (
      n integer PRIMARY KEY,
      tenant_id uuid NOT NULL,
      user_id uuid NOT NULL,
      warehouse_id uuid NOT NULL,
      acct_1300 uuid,
      acct_5000 uuid)`);
    await c.query(`GRANT USAGE ON SCHEMA bench TO kv_app, kv_owner`);
    await c.query(`GRANT SELECT ON bench.tenants TO kv_app, kv_owner`);
  });
}

/**
 * Main tenants through the public API, as a customer would: the platform admin creates each tenant with its
 * admin, the admin creates `usersPerTenant` users (roles sales_clerk + accountant) and a warehouse, and every
 * user logs in. Their catalogs are then seeded in SQL ({@link seedCatalogs}).
 */
export async function provisionMainTenants(
  http: HttpClient,
  db: BenchDb,
  options: {
    runId: string;
    tenants: number;
    usersPerTenant: number;
    adminEmail: string;
    adminPassword: string;
  },
  say: (m: string) => void,
): Promise<{ sessions: Session[]; stats: Omit<ProvisioningStats, 'sql'> }> {
  const platform = await login(http, 'platform', options.adminEmail, options.adminPassword);
  const ns = Array.from({ length: options.tenants }, (_, i) => i + 1);
  let t = performance.now();
  const tenants = await mapLimit(ns, 4, async (n) => {
    const slug = `b${options.runId}-t${n}`;
    const admin = { email: `admin@t${n}.bench.local`, password: PASSWORD };
    const r = await http.callRetrying('POST', '/v1/platform/tenants', {
      token: platform.token,
      idempotencyKey: newKey(),
      body: { slug, name: `Bench tenant ${n}`, admin },
    });
    expectStatus(r, [201], `create tenant ${slug}`);
    return { n, slug, tenantId: field(r.body, 'id', 'tenant'), admin };
  });
  const tenantsS = (performance.now() - t) / 1000;
  say(`  ${tenants.length} tenants created through the API in ${tenantsS.toFixed(1)} s`);

  t = performance.now();
  const admins = await mapLimit(tenants, 8, async (tn) => {
    const tok = await login(http, tn.slug, tn.admin.email, tn.admin.password);
    const me = await http.callRetrying('GET', '/v1/auth/me', { token: tok.token });
    expectStatus(me, [200], 'me');
    const wh = await http.callRetrying('POST', '/v1/warehouses', {
      token: tok.token,
      idempotencyKey: newKey(),
      body: { code: 'MAIN', name: 'Main warehouse' },
    });
    expectStatus(wh, [201], `warehouse of ${tn.slug}`);
    return {
      ...tn,
      ...tok,
      userId: field(me.body, 'user_id', 'me'),
      warehouseId: field(wh.body, 'id', 'warehouse'),
    };
  });
  const users = admins.flatMap((a) =>
    Array.from({ length: options.usersPerTenant }, (_, k) => ({
      a,
      email: `user${k + 1}@t${a.n}.bench.local`,
    })),
  );
  const created = await mapLimit(users, 8, async ({ a, email }) => {
    const r = await http.callRetrying('POST', '/v1/users', {
      token: a.token,
      idempotencyKey: newKey(),
      body: { email, password: PASSWORD, roles: ['sales_clerk', 'accountant'] },
    });
    expectStatus(r, [201], `user ${email}`);
    return { a, email, userId: field(r.body, 'id', 'user') };
  });
  const usersS = (performance.now() - t) / 1000;

  t = performance.now();
  const logged = await mapLimit(created, 8, async (u) => ({
    u,
    tok: await login(http, u.a.slug, u.email, PASSWORD),
  }));
  const loginsS = (performance.now() - t) / 1000;
  const now = Date.now();
  const sessions: Session[] = [
    ...admins.map((a) => ({
      n: a.n,
      tenantId: a.tenantId,
      slug: a.slug,
      userId: a.userId,
      email: a.admin.email,
      password: PASSWORD,
      warehouseId: a.warehouseId,
      token: a.token,
      refreshToken: a.refreshToken,
      issuedAt: now,
    })),
    ...logged.map(({ u, tok }) => ({
      n: u.a.n,
      tenantId: u.a.tenantId,
      slug: u.a.slug,
      userId: u.userId,
      email: u.email,
      password: PASSWORD,
      warehouseId: u.a.warehouseId,
      token: tok.token,
      refreshToken: tok.refreshToken,
      issuedAt: now,
    })),
  ];

  // Every accounting request bootstraps the tenant's system accounts; pgbench's posting needs their ids.
  const acct = await mapLimit(admins, 8, async (a) => {
    const r = await http.callRetrying('GET', '/v1/accounts?limit=200', { token: a.token });
    expectStatus(r, [200], 'accounts');
    const list = (r.body as { data: { id: string; code: string }[] }).data;
    return {
      n: a.n,
      a1300: list.find((x) => x.code === '1300')?.id,
      a5000: list.find((x) => x.code === '5000')?.id,
    };
  });
  await withClient(db.adminUrl, async (c) => {
    for (const a of admins) {
      const x = acct.find((y) => y.n === a.n);
      await c.query(
        `INSERT INTO bench.tenants (n, tenant_id, user_id, warehouse_id, acct_1300, acct_5000) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (n) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, user_id = EXCLUDED.user_id,
           warehouse_id = EXCLUDED.warehouse_id, acct_1300 = EXCLUDED.acct_1300, acct_5000 = EXCLUDED.acct_5000`,
        [a.n, a.tenantId, a.userId, a.warehouseId, x?.a1300 ?? null, x?.a5000 ?? null],
      );
    }
  });
  return {
    sessions,
    stats: {
      tenants: tenants.length,
      tenantsPerS: tenants.length / tenantsS,
      users: created.length,
      usersPerS: created.length / usersS,
      logins: logged.length,
      loginsPerS: logged.length / loginsS,
    },
  };
}

/**
 * Catalogs in SQL as the table owner `kv_owner`, one tenant at a time inside a server-side loop (row-level
 * security is FORCEd on the owner too, so each tenant's rows are written under its own `app.tenant_id`):
 * `skus` products with stock rows (on_hand 10^9 at average cost 100, so the bench never runs out), one
 * opening receipt with its movements (on_hand = sum of movements holds), and `accounts` bench accounts.
 * Tenants are the bench.tenants rows with `n` in [lo, hi].
 */
export async function seedCatalogs(
  db: BenchDb,
  range: { lo: number; hi: number },
  skus: number,
  accounts: number,
): Promise<{ rows: number; seconds: number }> {
  const t = performance.now();
  const accountsSql =
    accounts > 0
      ? `INSERT INTO accounting.accounts (tenant_id, id, code, name, type)
           SELECT r.tenant_id, ${accountIdSql('r.n', 'i')}, 'B' || lpad(i::text, 5, '0'), 'Bench account ' || i,
                  CASE WHEN i % 2 = 1 THEN 'asset' ELSE 'expense' END
             FROM generate_series(1, ${accounts}) i;`
      : '';
  await withClient(db.ownerUrl, async (c) => {
    await c.query(`DO $$
      DECLARE r record; receipt uuid;
      BEGIN
        FOR r IN SELECT n, tenant_id, warehouse_id FROM bench.tenants WHERE n BETWEEN ${range.lo} AND ${range.hi} ORDER BY n LOOP
          PERFORM set_config('app.tenant_id', r.tenant_id::text, true);
          receipt := gen_random_uuid();
          INSERT INTO inventory.products (tenant_id, id, sku, name, unit)
            SELECT r.tenant_id, ${productIdSql('r.n', 's')}, 'SKU-' || lpad(s::text, 6, '0'), 'Bench product ' || s, 'pcs'
              FROM generate_series(1, ${skus}) s;
          INSERT INTO inventory.stock_levels (tenant_id, product_id, warehouse_id, on_hand, reserved, average_cost)
            SELECT r.tenant_id, ${productIdSql('r.n', 's')}, r.warehouse_id, 1000000000, 0, 100
              FROM generate_series(1, ${skus}) s;
          INSERT INTO inventory.receipts (tenant_id, id, warehouse_id, reference) VALUES (r.tenant_id, receipt, r.warehouse_id, 'BENCH-OPENING');
          INSERT INTO inventory.stock_movements (tenant_id, id, type, product_id, warehouse_id, quantity, unit_cost, reference, document_type, document_id)
            SELECT r.tenant_id, gen_random_uuid(), 'receipt', ${productIdSql('r.n', 's')}, r.warehouse_id, 1000000000, 100, 'BENCH-OPENING', 'receipt', receipt
              FROM generate_series(1, ${skus}) s;
          ${accountsSql}
        END LOOP;
      END $$`);
  });
  const tenants = range.hi - range.lo + 1;
  return { rows: tenants * (3 * skus + 1 + accounts), seconds: (performance.now() - t) / 1000 };
}

/** An scrypt hash in the gateway's stored format with a low cost (N=1024), for bench users seeded in SQL. */
function cheapPasswordHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password.normalize('NFC'), salt, 64, { N: 1024, r: 8, p: 1 });
  return ['scrypt', 1024, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/**
 * Scale tenants `lo..hi` (bench numbers) in SQL as the owner: tenant, one `sales_clerk` user (password hash
 * stored with scrypt N=1024 instead of the default 16384, so 10,000 real logins take seconds, not minutes),
 * warehouse, then their catalogs ({@link seedCatalogs}, no accounts).
 */
export async function seedScaleTenants(
  db: BenchDb,
  runId: string,
  range: { lo: number; hi: number },
  skus: number,
): Promise<{ rows: number; seconds: number }> {
  const t = performance.now();
  const hash = cheapPasswordHash(PASSWORD);
  await withClient(db.adminUrl, async (c) => {
    await c.query(
      `INSERT INTO bench.tenants (n, tenant_id, user_id, warehouse_id)
       SELECT n, ${sqlTenantIdSql('n', runId)}, ${sqlUserIdSql('n')}, ${sqlWarehouseIdSql('n')}
         FROM generate_series($1::int, $2::int) n
       ON CONFLICT (n) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, user_id = EXCLUDED.user_id,
         warehouse_id = EXCLUDED.warehouse_id, acct_1300 = NULL, acct_5000 = NULL`,
      [range.lo, range.hi],
    );
  });
  await withClient(db.ownerUrl, async (c) => {
    await c.query(`DO $$
      DECLARE r record;
      BEGIN
        FOR r IN SELECT n, tenant_id, user_id, warehouse_id FROM bench.tenants WHERE n BETWEEN ${range.lo} AND ${range.hi} ORDER BY n LOOP
          PERFORM set_config('app.tenant_id', r.tenant_id::text, true);
          INSERT INTO iam.tenants (tenant_id, slug, name) VALUES (r.tenant_id, 'b${runId}-s' || r.n, 'Bench scale tenant ' || r.n);
          INSERT INTO iam.users (tenant_id, id, email, password_hash, roles)
            VALUES (r.tenant_id, r.user_id, 'clerk@s' || r.n || '.bench.local', '${hash}', ARRAY['sales_clerk']);
          INSERT INTO inventory.warehouses (tenant_id, id, code, name) VALUES (r.tenant_id, r.warehouse_id, 'MAIN', 'Main warehouse');
        END LOOP;
      END $$`);
  });
  const catalogs = await seedCatalogs(db, range, skus, 0);
  const tenants = range.hi - range.lo + 1;
  return { rows: catalogs.rows + tenants * 3, seconds: (performance.now() - t) / 1000 };
}

/** The peer baseline's tenant: inventory rows only (it is never used through the API). */
export async function seedPeerTenant(
  db: BenchDb,
  runId: string,
  n: number,
  skus: number,
): Promise<{ tenantId: string; warehouseId: string; userId: string }> {
  await withClient(db.adminUrl, async (c) => {
    await c.query(
      `INSERT INTO bench.tenants (n, tenant_id, user_id, warehouse_id)
       VALUES ($1, ${sqlTenantIdSql('$1::int', runId)}, ${sqlUserIdSql('$1::int')}, ${sqlWarehouseIdSql('$1::int')})
       ON CONFLICT (n) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, user_id = EXCLUDED.user_id,
         warehouse_id = EXCLUDED.warehouse_id, acct_1300 = NULL, acct_5000 = NULL`,
      [n],
    );
  });
  await withClient(db.ownerUrl, async (c) => {
    await c.query(`DO $$
      DECLARE r record;
      BEGIN
        SELECT n, tenant_id, warehouse_id INTO r FROM bench.tenants WHERE n = ${n};
        PERFORM set_config('app.tenant_id', r.tenant_id::text, true);
        INSERT INTO inventory.warehouses (tenant_id, id, code, name) VALUES (r.tenant_id, r.warehouse_id, 'MAIN', 'Peer baseline warehouse');
      END $$`);
  });
  await seedCatalogs(db, { lo: n, hi: n }, skus, 0);
  const [row] = await withClient(db.adminUrl, (c) =>
    rows<{ tenant_id: string; warehouse_id: string; user_id: string }>(
      c,
      `SELECT tenant_id, warehouse_id, user_id FROM bench.tenants WHERE n = $1`,
      [n],
    ),
  );
  return { tenantId: row!.tenant_id, warehouseId: row!.warehouse_id, userId: row!.user_id };
}

/** Logs in the user of each SQL-seeded scale tenant in `lo..hi` through the API. */
export async function loginScaleTenants(
  http: HttpClient,
  runId: string,
  range: { lo: number; hi: number },
  onProgress: (done: number) => void,
): Promise<{ sessions: Session[]; seconds: number }> {
  const t = performance.now();
  const ns = Array.from({ length: range.hi - range.lo + 1 }, (_, i) => range.lo + i);
  let done = 0;
  const sessions = await mapLimit(ns, 24, async (n) => {
    const slug = `b${runId}-s${n}`;
    const email = `clerk@s${n}.bench.local`;
    const tok = await login(http, slug, email, PASSWORD);
    if (++done % 250 === 0) onProgress(done);
    return {
      n,
      slug,
      email,
      password: PASSWORD,
      tenantId: sqlTenantId(n, runId),
      userId: sqlUserId(n),
      warehouseId: sqlWarehouseId(n),
      token: tok.token,
      refreshToken: tok.refreshToken,
      issuedAt: Date.now(),
    };
  });
  return { sessions, seconds: (performance.now() - t) / 1000 };
}

/** ANALYZE after bulk loads, so the planner knows the new sizes (autovacuum would get there later). */
export async function analyze(db: BenchDb): Promise<void> {
  await withClient(db.adminUrl, async (c) => {
    for (const t of [
      'inventory.products',
      'inventory.stock_levels',
      'inventory.stock_movements',
      'inventory.warehouses',
      'accounting.accounts',
      'iam.tenants',
      'iam.users',
      'bench.tenants',
    ]) {
      await c.query(`ANALYZE ${t}`);
    }
  });
}
