import knexFactory from 'knex';
import { z } from 'zod';
import { env, loadConfig } from '@kv/config';
import { runMigrationCli } from '@kv/migrations';
import { migrate } from './migrate';

/** CLI for the Kubernetes migration Job: `node dist/migrate-main.js` with `DATABASE_OWNER_URL` set. */
void runMigrationCli(
  'inventory',
  () => {
    const config = loadConfig(
      z.object({ DATABASE_OWNER_URL: env.url(['postgres', 'postgresql']) }),
      process.env,
    );
    return knexFactory({ client: 'pg', connection: config.DATABASE_OWNER_URL, pool: { min: 0, max: 2 } });
  },
  migrate,
);
