/**
 * `pnpm start`: the whole system on one machine. PostgreSQL (given, local or embedded), Redis (given, local
 * or spawned), migrations, inventory, accounting, worker and N gateways behind nginx least_conn on PORT
 * (one gateway on PORT when nginx is missing). Prints `ready: http://127.0.0.1:PORT` once everything answers
 * its readiness check and the demo tenant exists. Ctrl-C stops everything cleanly.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { z } from 'zod';
import { env, loadConfig } from '@kv/config';
import { startPostgres, startRedis } from './infra';
import { startNginx } from './nginx';
import { DEMO, demoIds, seedDemo } from './seed';
import { runOnce, Supervisor, type ProcessSpec } from './supervisor';

const root = path.resolve(__dirname, '..', '..', '..');
const dataDir = path.join(root, '.kv-data');
const logDir = path.join(dataDir, 'logs');

const schema = z.object({
  PORT: env.port(8080),
  PLATFORM_ADMIN_EMAIL: z.string().email().default('admin@platform.local'),
  PLATFORM_ADMIN_PASSWORD: z.string().min(10).optional(),
  DATABASE_URL: env.url(['postgres', 'postgresql']).optional(),
  REDIS_URL: env.url(['redis', 'rediss']).optional(),
  JWT_SECRET: z.string().min(32).optional(),
  ACCESS_TOKEN_TTL_S: env.int(900, 10),
  REFRESH_TOKEN_TTL_S: env.int(1_209_600, 60),
  RATE_LIMIT_IP_PER_MIN: env.int(60, 1),
  RATE_LIMIT_LOGIN_PER_MIN: env.int(10, 1),
  RATE_LIMIT_USER_PER_MIN: env.int(600, 1),
  RATE_LIMIT_TENANT_PER_MIN: env.int(6000, 1),
  EDGE_RATE_LIMIT_RPS: env.int(10, 0),
  GATEWAY_INSTANCES: env.int(3, 1, 32),
  LOG_LEVEL: env.logLevel(),
});

function say(message: string): void {
  process.stderr.write(`[stack] ${message}\n`);
}

function node(app: string, entry: string): [string, string[]] {
  return [process.execPath, ['--enable-source-maps', path.join(root, 'apps', app, 'dist', entry)]];
}

async function main(): Promise<void> {
  const config = loadConfig(schema, process.env);
  const generatedPassword = config.PLATFORM_ADMIN_PASSWORD ? undefined : randomBytes(9).toString('base64url');
  const adminPassword = config.PLATFORM_ADMIN_PASSWORD ?? generatedPassword!;

  say('starting PostgreSQL and Redis ...');
  const pg = await startPostgres(config.DATABASE_URL, dataDir, say);
  say(`using ${pg.describe}`);
  const redis = await startRedis(config.REDIS_URL, dataDir, say);
  say(`using ${redis.describe}`);

  const hasNginx = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).status === 0;
  const gateways = hasNginx ? config.GATEWAY_INSTANCES : 1;
  if (!hasNginx)
    say(
      'nginx is not installed: running ONE gateway directly on the port (apt-get install nginx for the balanced setup)',
    );

  const common: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: config.LOG_LEVEL,
    DATABASE_URL: pg.appUrl,
    DATABASE_OWNER_URL: pg.ownerUrl,
    DATABASE_SYSTEM_URL: pg.systemUrl,
    REDIS_URL: redis.url,
    INTERNAL_SECRET: randomBytes(32).toString('hex'),
    MIGRATE_ON_START: 'false',
    INVENTORY_URL: 'http://127.0.0.1:3001',
    ACCOUNTING_URL: 'http://127.0.0.1:3002',
    WORKER_URL: 'http://127.0.0.1:3003',
  };
  const gatewayEnv: Record<string, string> = {
    JWT_SECRET: config.JWT_SECRET ?? randomBytes(32).toString('hex'),
    ACCESS_TOKEN_TTL_S: String(config.ACCESS_TOKEN_TTL_S),
    REFRESH_TOKEN_TTL_S: String(config.REFRESH_TOKEN_TTL_S),
    RATE_LIMIT_IP_PER_MIN: String(config.RATE_LIMIT_IP_PER_MIN),
    RATE_LIMIT_LOGIN_PER_MIN: String(config.RATE_LIMIT_LOGIN_PER_MIN),
    RATE_LIMIT_USER_PER_MIN: String(config.RATE_LIMIT_USER_PER_MIN),
    RATE_LIMIT_TENANT_PER_MIN: String(config.RATE_LIMIT_TENANT_PER_MIN),
    PLATFORM_ADMIN_EMAIL: config.PLATFORM_ADMIN_EMAIL,
    PLATFORM_ADMIN_PASSWORD: adminPassword,
    TRUSTED_PROXIES: '127.0.0.1,::1,::ffff:127.0.0.1',
  };

  say('running migrations ...');
  for (const app of ['gateway', 'inventory', 'accounting', 'worker']) {
    const [cmd, args] = node(app, 'migrate-main.js');
    const code = await runOnce({ name: `migrate-${app}`, command: cmd, args, env: common }, logDir);
    if (code !== 0)
      throw new Error(`migrations of ${app} failed (log: ${path.join(logDir, `migrate-${app}.log`)})`);
  }

  const sup = new Supervisor(logDir, say);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping ...`);
    await sup.stop();
    await redis.stop();
    await pg.stop();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const svc = (name: string, app: string, port: number, extra: Record<string, string> = {}): ProcessSpec => {
    const [command, args] = node(app, 'main.js');
    return {
      name,
      command,
      args,
      env: { ...common, ...extra, PORT: String(port) },
      readyUrl: `http://127.0.0.1:${port}/health/ready`,
    };
  };
  sup.start(svc('inventory', 'inventory', 3001));
  sup.start(svc('accounting', 'accounting', 3002));
  sup.start(svc('worker', 'worker', 3003));
  const gatewayPorts = hasNginx ? Array.from({ length: gateways }, (_, i) => 8081 + i) : [config.PORT];
  gatewayPorts.forEach((port, i) => sup.start(svc(`gateway-${i + 1}`, 'gateway', port, gatewayEnv)));
  if (hasNginx) {
    sup.start(
      startNginx({
        dataDir,
        port: config.PORT,
        upstreams: gatewayPorts,
        edgeRps: config.EDGE_RATE_LIMIT_RPS,
      }),
    );
  }

  await sup.waitReady(120_000, (ready, pending) =>
    say(`ready: ${ready.join(', ')}${pending.length ? ` | waiting for ${pending.join(', ')}` : ''}`),
  );
  const base = `http://127.0.0.1:${config.PORT}`;
  say('creating the demo tenant ...');
  await seedDemo(base, config.PLATFORM_ADMIN_EMAIL, adminPassword);
  const ids = await demoIds(base);

  const curl = [
    `TOKEN=$(curl -s ${base}/v1/auth/login -H 'content-type: application/json' \\`,
    `  -d '{"tenant":"${DEMO.tenant}","email":"${DEMO.admin.email}","password":"${DEMO.admin.password}"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
    `curl -s ${base}/v1/reservations -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
    `  -d '{"warehouse_id":"${ids.warehouseId}","lines":[{"product_id":"${ids.productId}","quantity":2}]}'`,
  ].join('\n');
  process.stdout.write(
    [
      '',
      `kv-erp is up (${gateways} gateway${gateways > 1 ? 's' : ''}${hasNginx ? ' behind nginx least_conn' : ''}; ${pg.describe}; ${redis.describe})`,
      `  API            ${base}/v1`,
      `  API docs       ${base}/docs`,
      `  Queue board    ${base}/admin/queues   (platform admin)`,
      `  Platform admin ${config.PLATFORM_ADMIN_EMAIL} / ${generatedPassword ? `${adminPassword}   (generated; set PLATFORM_ADMIN_PASSWORD to choose)` : '(from PLATFORM_ADMIN_PASSWORD)'}`,
      `  Demo tenant    "${DEMO.tenant}": ${DEMO.admin.email} / ${DEMO.admin.password}` +
        `; ${DEMO.users.map((u) => `${u.email} / ${u.password}`).join('; ')}`,
      `  Logs           ${logDir}`,
      '',
      'Try it:',
      curl,
      '',
      `ready: ${base}`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  say(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
