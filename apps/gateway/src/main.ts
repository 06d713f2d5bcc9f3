import { loadConfig } from '@kv/config';
import { serve } from '@kv/http';
import { createApp } from './app';
import { configSchema } from './config';
import { createDeps } from './deps';

/** Composition root: config → deps (migrations, platform admin) → app → listen → graceful shutdown. */
async function main(): Promise<void> {
  const config = loadConfig(configSchema, process.env);
  const deps = await createDeps(config);
  const app = createApp(deps);
  const served = await serve(app, {
    port: config.PORT,
    logger: deps.logger,
    onShutdown: () => deps.close(),
  });
  // Readiness turns 503 as soon as a signal arrives, so balancers stop sending while in-flight requests drain.
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.prependListener(signal, () => deps.setShuttingDown());
  deps.logger.info('gateway ready', { port: served.port });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', service: 'gateway', message: 'start-up failed', error: err instanceof Error ? err.message : String(err) })}\n`,
  );
  process.exit(1);
});
