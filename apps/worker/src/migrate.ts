import type { Knex } from 'knex';
import { runMigrations } from '@kv/migrations';
import * as m0001 from './migrations/0001_worker_schema';
import { SCHEMA, SYSTEM_ROLE } from './data/schema';

/**
 * Brings the `worker` schema up to date (see @kv/migrations: advisory-locked, safe to call concurrently).
 * Run it as the owner role (`kv_owner`). Returns the names of the migrations that ran.
 */
export function migrate(ownerKnex: Knex): Promise<string[]> {
  return runMigrations(ownerKnex, {
    schema: SCHEMA,
    migrations: { '0001_worker_schema': m0001 },
    grantUsageTo: [SYSTEM_ROLE],
    lockKey: 740_312_004,
  });
}
