import type { Knex } from 'knex';
import * as m0001 from './migrations/0001_inventory_schema';
import { APP_ROLE, SCHEMA, SYSTEM_ROLE } from './data/schema';

interface Migration {
  up: (knex: Knex) => Promise<void>;
}

const MIGRATIONS: Record<string, Migration> = {
  '0001_inventory_schema': m0001,
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

/** Arbitrary constant: serialises concurrent `migrate()` calls (several instances starting at once). */
const MIGRATION_LOCK_KEY = 740_312_001;

/**
 * Brings the `inventory` schema up to date. Run it as the owner role (`kv_owner`); needs a pool of at least
 * two connections (one holds the advisory lock). Safe to call concurrently and repeatedly.
 * @returns the names of the migrations that ran.
 */
export function migrate(ownerKnex: Knex): Promise<string[]> {
  // Calls sharing one pool queue here (each would otherwise hold a pooled connection while waiting for the
  // advisory lock, starving the holder); other processes queue on the advisory lock.
  const previous = inProcess.get(ownerKnex) ?? Promise.resolve([]);
  const next = previous.catch(() => []).then(() => migrateLocked(ownerKnex));
  inProcess.set(ownerKnex, next);
  return next;
}

const inProcess = new WeakMap<Knex, Promise<string[]>>();

async function migrateLocked(ownerKnex: Knex): Promise<string[]> {
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
