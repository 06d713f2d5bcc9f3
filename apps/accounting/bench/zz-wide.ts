import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import knex from 'knex';
import { createIdentityCodec } from '@kv/tenant-context';
import { createTestDatabase, freePort, uniquePrefix, waitFor } from '@kv/testing';
const SECRET = 'bench-internal-secret-0123456789abcdef';
void (async () => {
  const db = await createTestDatabase('acct_prof');
  const port = await freePort();
  const prof = process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [];
  const child = spawn(
    process.execPath,
    [...prof, '--import', 'tsx', '--conditions=@kv/source', 'src/main.ts'],
    {
      env: {
        ...process.env,
        PORT: String(port),
        LOG_LEVEL: 'error',
        DATABASE_URL: db.urls.app + '?host=/var/run/postgresql',
        DATABASE_OWNER_URL: db.urls.owner,
        REDIS_URL: 'redis://127.0.0.1:6379',
        REDIS_KEY_PREFIX: uniquePrefix('p'),
        INTERNAL_SECRET: SECRET,
        DB_POOL_MAX: '16',
      },
      stdio: 'inherit',
    },
  );
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health/ready`)).ok, 60000, 200);
  const tenantId = randomUUID();
  const identity = createIdentityCodec({ secret: SECRET, ttlSeconds: 3600 }).sign({
    tenantId,
    userId: randomUUID(),
    roles: [],
    permissions: ['accounting:post', 'accounting:read'],
    attributes: {},
    requestId: 'x',
    kind: 'user',
  });
  const h = { 'x-kv-identity': identity, 'content-type': 'application/json' };
  const mk = async (code: string) =>
    (
      (await (
        await fetch(`http://127.0.0.1:${port}/v1/accounts`, {
          method: 'POST',
          headers: h,
          body: JSON.stringify({ code, name: code, type: 'asset' }),
        })
      ).json()) as { id: string }
    ).id;
  const a = await mk('A');
  const b = await mk('B');
  const owner = knex({ client: 'pg', connection: db.urls.owner });
  await owner.transaction(async (trx) => {
    await trx.raw(`SELECT set_config('app.tenant_id', ?, true)`, [tenantId]);
    await trx.raw(
      `INSERT INTO accounting.accounts (tenant_id, id, code, name, type) SELECT ?, ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'W' || lpad(i::text, 4, '0'), 'Wide ' || i, 'asset' FROM generate_series(0, 999) AS i`,
      [tenantId],
    );
  });
  await owner.destroy();
  const wid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  const mkBody = (x: string, y: string) =>
    JSON.stringify({
      date: '2026-01-15',
      memo: 'bench',
      lines: [
        { account_id: x, debit: 5, credit: 0 },
        { account_id: y, debit: 0, credit: 5 },
      ],
    });
  if (process.env.HOLD) await new Promise((r) => setTimeout(r, Number(process.env.HOLD)));
  for (const mode of (process.env.MODES ?? 'hot,wide,hot,wide').split(',')) {
    require('node:fs').writeFileSync('/tmp/acc/mode', mode);
    const r = await autocannon({
      url: `http://127.0.0.1:${port}/v1/journal-entries`,
      method: 'POST',
      connections: 64,
      duration: 5,
      headers: h,
      requests: [
        {
          setupRequest: (req: any) => {
            if (mode === 'hot') return { ...req, body: mkBody(a, b) };
            const i = Math.floor(Math.random() * 1000);
            const j = (i + 1 + Math.floor(Math.random() * 999)) % 1000;
            return { ...req, body: mkBody(wid(i), wid(j)) };
          },
        },
      ],
    });
    console.log(mode, 'req/s', r.requests.average, 'non2xx', r.non2xx, 'p50', r.latency.p50);
  }
  await new Promise<void>((res) => {
    child.once('exit', () => res());
    child.kill('SIGTERM');
  });
  await db.drop();
})();
