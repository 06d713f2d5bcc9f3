/** Demo data created through the public API, so it exercises exactly what clients use. Idempotent. */

export const DEMO = {
  tenant: 'demo',
  admin: { email: 'admin@demo.local', password: 'demo-admin-pass' },
  users: [
    { email: 'clerk@demo.local', password: 'demo-clerk-pass', roles: ['sales_clerk'] },
    { email: 'accountant@demo.local', password: 'demo-accountant-pass', roles: ['accountant'] },
    { email: 'viewer@demo.local', password: 'demo-viewer-pass', roles: ['viewer'] },
  ],
  warehouses: [
    { code: 'MAIN', name: 'Main warehouse' },
    { code: 'EAST', name: 'East depot' },
  ],
  products: [
    { sku: 'WIDGET-1', name: 'Widget', unit: 'pcs' },
    { sku: 'GADGET-1', name: 'Gadget', unit: 'pcs' },
    { sku: 'BOLT-10', name: 'Bolt M10', unit: 'pcs' },
  ],
};

interface Json {
  [k: string]: unknown;
}

async function call(
  base: string,
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
}

async function login(base: string, tenant: string, email: string, password: string): Promise<string> {
  const r = await call(base, 'POST', '/v1/auth/login', undefined, { tenant, email, password });
  if (r.status !== 200)
    throw new Error(`login ${email}@${tenant} failed: ${r.status} ${JSON.stringify(r.body)}`);
  return String(r.body.access_token);
}

function ok(r: { status: number; body: Json }, what: string, allowed = [200, 201, 409]): void {
  if (!allowed.includes(r.status))
    throw new Error(`seeding ${what} failed: ${r.status} ${JSON.stringify(r.body)}`);
}

/** Creates the demo tenant, its users, warehouses, products and opening stock (once). */
export async function seedDemo(base: string, platformEmail: string, platformPassword: string): Promise<void> {
  const platform = await login(base, 'platform', platformEmail, platformPassword);
  ok(
    await call(base, 'POST', '/v1/platform/tenants', platform, {
      slug: DEMO.tenant,
      name: 'Demo Company',
      admin: DEMO.admin,
    }),
    'tenant',
  );
  const admin = await login(base, DEMO.tenant, DEMO.admin.email, DEMO.admin.password);
  for (const u of DEMO.users) ok(await call(base, 'POST', '/v1/users', admin, u), `user ${u.email}`);
  const existing = await call(base, 'GET', '/v1/warehouses?limit=200', admin);
  if (Array.isArray(existing.body.data) && existing.body.data.length > 0) return;
  const warehouseIds: string[] = [];
  for (const w of DEMO.warehouses) {
    const r = await call(base, 'POST', '/v1/warehouses', admin, w);
    ok(r, `warehouse ${w.code}`, [201]);
    warehouseIds.push(String(r.body.id));
  }
  const productIds: string[] = [];
  for (const p of DEMO.products) {
    const r = await call(base, 'POST', '/v1/products', admin, p);
    ok(r, `product ${p.sku}`, [201]);
    productIds.push(String(r.body.id));
  }
  for (const [i, wid] of warehouseIds.entries()) {
    const r = await call(base, 'POST', '/v1/stock/receipts', admin, {
      warehouse_id: wid,
      reference: `OPENING-${i + 1}`,
      lines: productIds.map((pid, j) => ({
        product_id: pid,
        quantity: 100 * (j + 1),
        unit_cost: 250 * (j + 1),
      })),
    });
    ok(r, 'opening stock', [201]);
  }
}

/** Ids the printed curl example uses. */
export async function demoIds(base: string): Promise<{ warehouseId: string; productId: string }> {
  const admin = await login(base, DEMO.tenant, DEMO.admin.email, DEMO.admin.password);
  const w = await call(base, 'GET', '/v1/warehouses?limit=1', admin);
  const p = await call(base, 'GET', '/v1/products?limit=1', admin);
  const first = (r: { body: Json }) => String(((r.body.data as Json[] | undefined)?.[0] ?? {}).id);
  return { warehouseId: first(w), productId: first(p) };
}
