import type { Knex } from 'knex';
import { runMigrations } from '@kv/migrations';
import * as m0001 from './migrations/0001_iam_schema';
import { SCHEMA, APP_ROLE, SYSTEM_ROLE } from './data/schema';

/**
 * Brings the `iam` schema up to date (see @kv/migrations: advisory-locked, safe to call concurrently).
 * Run it as the owner role (`kv_owner`). Returns the names of the migrations that ran.
 */
export function migrate(ownerKnex: Knex): Promise<string[]> {
  return runMigrations(ownerKnex, {
    schema: SCHEMA,
    migrations: { '0001_iam_schema': m0001 },
    grantUsageTo: [APP_ROLE, SYSTEM_ROLE],
    lockKey: 740_312_100,
  });
}
