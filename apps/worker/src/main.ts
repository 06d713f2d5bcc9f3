import knexFactory from 'knex';
import { loadConfig } from '@kv/config';
import { serve } from '@kv/http';
import { errorFields } from '@kv/logger';
import { createApp } from './app';
import { configSchema } from './config';
import { createDeps } from './deps';
import { migrate } from './migrate';
import { startWorker } from './worker';

/** Composition root: config → migrations → deps → worker → HTTP server → graceful shutdown on SIGTERM. */
async function main(): Promise<void> {
  const config = loadConfig(configSchema, process.env);
  if (config.MIGRATE_ON_START && config.DATABASE_OWNER_URL) {
    const owner = knexFactory({
      client: 'pg',
      connection: config.DATABASE_OWNER_URL,
      pool: { min: 0, max: 2 },
    });
    try {
      await migrate(owner);
    } finally {
      await owner.destroy();
    }
  }
  const deps = createDeps(config);
  const worker = startWorker(deps);
  let isShuttingDown = () => false;
  const app = createApp(deps, {
    isShuttingDown: () => isShuttingDown(),
    isExpiryLeader: () => worker.expiry.isLeader(),
  });
  const served = await serve(app, {
    port: config.PORT,
    logger: deps.logger,
    drainTimeoutMs: 5_000,
    onShutdown: async () => {
      await worker.stop();
      await deps.close();
    },
  });
  isShuttingDown = served.isShuttingDown;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', message: 'worker failed to start', service: 'worker', ...errorFields(err), stack: undefined })}\n`,
  );
  process.exit(1);
});
