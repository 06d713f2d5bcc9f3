import { loadConfig } from '@kv/config';
import { serve } from '@kv/http';
import { errorFields } from '@kv/logger';
import { createApp } from './app';
import { configSchema } from './config';
import { createDeps } from './deps';

/** Composition root: config → deps (migrations first) → app → serve with graceful shutdown. */
async function main(): Promise<void> {
  const config = loadConfig(configSchema, process.env);
  const deps = await createDeps(config);
  const app = createApp(deps);
  const served = await serve(app, {
    port: config.PORT,
    logger: deps.logger,
    onShutdown: () => deps.close(),
  });
  process.once('SIGTERM', () => deps.beginShutdown());
  process.once('SIGINT', () => deps.beginShutdown());
  deps.logger.info('accounting ready', { port: served.port });
}

main().catch((err: unknown) => {
  process.stderr.write(`accounting failed to start: ${JSON.stringify(errorFields(err))}\n`);
  process.exit(1);
});
