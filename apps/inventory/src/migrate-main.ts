import knexFactory from 'knex';
import { env, loadConfig } from '@kv/config';
import { z } from 'zod';
import { migrate } from './migrate';

/** CLI for the Kubernetes migration Job: `node dist/migrate-main.js` with `DATABASE_OWNER_URL` set. */
async function main(): Promise<void> {
  const config = loadConfig(
    z.object({ DATABASE_OWNER_URL: env.url(['postgres', 'postgresql']) }),
    process.env,
  );
  const owner = knexFactory({
    client: 'pg',
    connection: config.DATABASE_OWNER_URL,
    pool: { min: 0, max: 2 },
  });
  try {
    const ran = await migrate(owner);
    process.stdout.write(`${JSON.stringify({ message: 'migrations applied', service: 'inventory', ran })}\n`);
  } finally {
    await owner.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ message: 'migration failed', error: err instanceof Error ? err.message : String(err) })}\n`,
  );
  process.exit(1);
});
