import { loadConfig } from '@kv/config';
import { serve, type Served } from '@kv/http';
import { errorFields } from '@kv/logger';
import { createApp } from './app';
import { configSchema } from './config';
import { createDeps } from './deps';
import { createPool } from './data/knex';
import { migrate } from './migrate';

/** Composition root: config → deps → migrations → app → listen → graceful shutdown. */
async function main(): Promise<void> {
  const config = loadConfig(configSchema, process.env);
  const deps = createDeps(config);
  try {
    if (config.MIGRATE_ON_START && config.DATABASE_OWNER_URL) {
      const owner = createPool(config.DATABASE_OWNER_URL, {
        max: 3,
        statementTimeoutMs: 0,
        applicationName: 'inventory-migrate',
      });
      try {
        const ran = await migrate(owner);
        deps.logger.info('migrations applied', { ran });
      } finally {
        await owner.destroy();
      }
    }
    // Replicas get reads only after their first successful poll.
    await deps.router.checkNow();
    const server: { served?: Served } = {};
    const app = createApp({ ...deps, isShuttingDown: () => server.served?.isShuttingDown() ?? false });
    server.served = await serve(app, {
      port: config.PORT,
      logger: deps.logger,
      onShutdown: () => deps.close(),
    });
  } catch (err) {
    deps.logger.error('start-up failed', errorFields(err));
    await deps.close();
    throw err;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`inventory failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
