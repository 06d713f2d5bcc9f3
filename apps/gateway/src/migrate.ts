import type { Knex } from 'knex';
import * as m0001 from './migrations/0001_iam_schema';
import { APP_ROLE, SCHEMA, SYSTEM_ROLE } from './data/schema';

interface Migration {
  up: (knex: Knex) => Promise<void>;
}

const MIGRATIONS: Record<string, Migration> = {
  '0001_iam_schema': m0001,
};

/** In-code migration source: the same list under jest, tsx and compiled `dist/`. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: () => Promise.resolve(Object.keys(MIGRATIONS).sort()),
  getMigrationName: (name) => name,
  getMigration: (name) => {
    const m = MIGRATIONS[name];
    if (!m) throw new Error(`unknown migration ${name}`);
    return Promise.resolve({
      up: m.up,
      down: () => Promise.reject(new Error('migrations only move forward')),
    });
  },
};

/** Arbitrary constant: serialises concurrent `migrate()` calls (several gateways starting at once). */
const MIGRATION_LOCK_KEY = 740_312_100;

/**
 * Brings the `iam` schema up to date. Run it as the owner role (`kv_owner`); needs a pool of at least two
 * connections (one holds the advisory lock). Safe to call concurrently and repeatedly.
 * @returns the names of the migrations that ran.
 */
export async function migrate(ownerKnex: Knex): Promise<string[]> {
  return ownerKnex.transaction(async (lock) => {
    await lock.raw('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK_KEY]);
    await ownerKnex.raw(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await ownerKnex.raw(`GRANT USAGE ON SCHEMA ${SCHEMA} TO ${APP_ROLE}, ${SYSTEM_ROLE}`);
    const [, log] = (await ownerKnex.migrate.latest({
      migrationSource,
      tableName: 'knex_migrations',
      schemaName: SCHEMA,
    })) as [number, string[]];
    return log;
  });
}
