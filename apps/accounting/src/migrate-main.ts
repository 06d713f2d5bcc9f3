import knex from 'knex';
import { z } from 'zod';
import { env, loadConfig } from '@kv/config';
import { migrate } from './migrate';

/** CLI entry for the Kubernetes migration Job: runs the migrations as `DATABASE_OWNER_URL` and exits. */
async function main(): Promise<void> {
  const config = loadConfig(
    z.object({ DATABASE_OWNER_URL: env.url(['postgres', 'postgresql']) }),
    process.env,
  );
  const owner = knex({ client: 'pg', connection: config.DATABASE_OWNER_URL, pool: { min: 0, max: 2 } });
  try {
    await migrate(owner);
    process.stdout.write('accounting migrations are up to date\n');
  } finally {
    await owner.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
