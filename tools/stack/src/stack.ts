import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { env } from '@kv/config';
import { startPostgres, startRedis, type Postgres, type RedisServer } from './infra';
import { startNginx } from './nginx';
import { runOnce, Supervisor, type ProcessSpec } from './supervisor';

/** Repository root. */
export const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Environment `pnpm start` honours (API contract, "Running the stack"). */
export const stackConfigSchema = z.object({
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
export type StackConfig = z.infer<typeof stackConfigSchema>;

export interface StackOptions {
  /** Where embedded PostgreSQL/Redis data, nginx files and logs go; default `<repo>/.kv-data`. */
  dataDir?: string;
  /** Progress messages. */
  say?: (message: string) => void;
  /** Ports of inventory, accounting, worker, and the first gateway behind nginx; defaults 3001, 3002, 3003, 8081. */
  ports?: { inventory?: number; accounting?: number; worker?: number; firstGateway?: number };
  /** Extra environment for every app process (e.g. queue concurrency in benchmarks). */
  appEnv?: Record<string, string>;
  /** Readiness timeout; default 120 s. */
  readyTimeoutMs?: number;
  /** Database (created if missing) for the stack's schemas; default `kverp` (STACK_DB). The benchmark uses its own. */
  database?: string;
}

export interface Stack {
  /** Public base URL (nginx, or the single gateway). */
  base: string;
  pg: Postgres;
  redis: RedisServer;
  supervisor: Supervisor;
  hasNginx: boolean;
  gateways: number;
  adminEmail: string;
  adminPassword: string;
  /** Set when the admin password was generated (unset PLATFORM_ADMIN_PASSWORD). */
  generatedPassword: boolean;
  logDir: string;
  /** Stops every process, then Redis and PostgreSQL if this stack started them. */
  stop(): Promise<void>;
}

function nodeEntry(app: string, entry: string): [string, string[]] {
  return [process.execPath, ['--enable-source-maps', path.join(ROOT, 'apps', app, 'dist', entry)]];
}

/**
 * Starts the whole system from built apps (`apps/*\/dist`): databases, migrations, services, gateways, nginx,
 * and waits until every component answers its readiness check.
 */
export async function startStack(config: StackConfig, options: StackOptions = {}): Promise<Stack> {
  const say = options.say ?? (() => undefined);
  const dataDir = options.dataDir ?? path.join(ROOT, '.kv-data');
  const logDir = path.join(dataDir, 'logs');
  const ports = { inventory: 3001, accounting: 3002, worker: 3003, firstGateway: 8081, ...options.ports };
  const generated = !config.PLATFORM_ADMIN_PASSWORD;
  const adminPassword = config.PLATFORM_ADMIN_PASSWORD ?? randomBytes(9).toString('base64url');

  say('starting PostgreSQL and Redis ...');
  const pg = await startPostgres(config.DATABASE_URL, dataDir, say, options.database);
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
    INVENTORY_URL: `http://127.0.0.1:${ports.inventory}`,
    ACCOUNTING_URL: `http://127.0.0.1:${ports.accounting}`,
    WORKER_URL: `http://127.0.0.1:${ports.worker}`,
    ...options.appEnv,
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
    const [command, args] = nodeEntry(app, 'migrate-main.js');
    const code = await runOnce({ name: `migrate-${app}`, command, args, env: common }, logDir);
    if (code !== 0) {
      const log = path.join(logDir, `migrate-${app}.log`);
      const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '(no log)';
      throw new Error(`migrations of ${app} failed (log: ${log}):\n${tail}`);
    }
  }

  const supervisor = new Supervisor(logDir, say);
  const svc = (name: string, app: string, port: number, extra: Record<string, string> = {}): ProcessSpec => {
    const [command, args] = nodeEntry(app, 'main.js');
    return {
      name,
      command,
      args,
      env: { ...common, ...extra, PORT: String(port) },
      readyUrl: `http://127.0.0.1:${port}/health/ready`,
    };
  };
  supervisor.start(svc('inventory', 'inventory', ports.inventory));
  supervisor.start(svc('accounting', 'accounting', ports.accounting));
  supervisor.start(svc('worker', 'worker', ports.worker));
  const gatewayPorts = hasNginx
    ? Array.from({ length: gateways }, (_, i) => ports.firstGateway + i)
    : [config.PORT];
  gatewayPorts.forEach((port, i) => supervisor.start(svc(`gateway-${i + 1}`, 'gateway', port, gatewayEnv)));
  if (hasNginx) {
    supervisor.start(
      startNginx({
        dataDir,
        port: config.PORT,
        upstreams: gatewayPorts,
        edgeRps: config.EDGE_RATE_LIMIT_RPS,
      }),
    );
  }
  const stop = async () => {
    await supervisor.stop();
    await redis.stop();
    await pg.stop();
  };
  try {
    await supervisor.waitReady(options.readyTimeoutMs ?? 120_000, (ready, pending) =>
      say(`ready: ${ready.join(', ')}${pending.length ? ` | waiting for ${pending.join(', ')}` : ''}`),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    base: `http://127.0.0.1:${config.PORT}`,
    pg,
    redis,
    supervisor,
    hasNginx,
    gateways,
    adminEmail: config.PLATFORM_ADMIN_EMAIL,
    adminPassword,
    generatedPassword: generated,
    logDir,
    stop,
  };
}
