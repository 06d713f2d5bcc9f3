/**
 * `pnpm start`: the whole system on one machine (see startStack), the demo tenant, and a short block with URLs,
 * credentials and a copy-paste curl, then `ready: http://127.0.0.1:PORT` on a line of its own. Ctrl-C stops
 * everything cleanly.
 */
import { loadConfig } from '@kv/config';
import { DEMO, demoIds, seedDemo } from './seed';
import { stackConfigSchema, startStack, type Stack } from './stack';

function say(message: string): void {
  process.stderr.write(`[stack] ${message}\n`);
}

async function main(): Promise<void> {
  const config = loadConfig(stackConfigSchema, process.env);
  const running: { stack?: Stack } = {};
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping ...`);
    await running.stack?.stop();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const stack = await startStack(config, { say });
  running.stack = stack;
  const base = stack.base;
  say('creating the demo tenant ...');
  await seedDemo(base, stack.adminEmail, stack.adminPassword);
  const ids = await demoIds(base);
  const curl = [
    `TOKEN=$(curl -s ${base}/v1/auth/login -H 'content-type: application/json' \\`,
    `  -d '{"tenant":"${DEMO.tenant}","email":"${DEMO.admin.email}","password":"${DEMO.admin.password}"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
    `curl -s ${base}/v1/reservations -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
    `  -d '{"warehouse_id":"${ids.warehouseId}","lines":[{"product_id":"${ids.productId}","quantity":2}]}'`,
  ].join('\n');
  const n = stack.gateways;
  process.stdout.write(
    [
      '',
      `kv-erp is up (${n} gateway${n > 1 ? 's' : ''}${stack.hasNginx ? ' behind nginx least_conn' : ''}; ${stack.pg.describe}; ${stack.redis.describe})`,
      `  API            ${base}/v1`,
      `  API docs       ${base}/docs`,
      `  Queue board    ${base}/admin/queues   (platform admin)`,
      `  Platform admin ${stack.adminEmail} / ${stack.adminPassword}${stack.generatedPassword ? '   (generated; set PLATFORM_ADMIN_PASSWORD to choose)' : ''}`,
      `  Demo tenant    "${DEMO.tenant}": ${[DEMO.admin, ...DEMO.users].map((u) => `${u.email} / ${u.password}`).join('; ')}`,
      `  Logs           ${stack.logDir}`,
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
