import type { Knex } from 'knex';
import { ledgerMigration } from './migrations/0001_ledger';
import { postEntryFunctionMigration } from './migrations/0002_single_statement_posting';
import { countAccountsByKeyMigration } from './migrations/0003_count_accounts_by_key';
import { DEFAULT_ROLES, type MigrationRoles } from './migrations/roles';

/** The service's schema; its knex migrations table lives inside it. */
export const SCHEMA = 'accounting';

interface NamedMigration {
  name: string;
  migration: Knex.Migration;
}

function migrations(roles: MigrationRoles): NamedMigration[] {
  return [
    { name: '0001_ledger', migration: ledgerMigration(roles) },
    { name: '0002_single_statement_posting', migration: postEntryFunctionMigration(roles) },
    { name: '0003_count_accounts_by_key', migration: countAccountsByKeyMigration() },
  ];
}

/** In-code migration source: runs the same under jest, tsx and compiled `dist/`. */
export function migrationSource(roles: MigrationRoles = DEFAULT_ROLES): Knex.MigrationSource<NamedMigration> {
  const list = migrations(roles);
  return {
    getMigrations: () => Promise.resolve(list),
    getMigrationName: (m) => m.name,
    getMigration: (m) => Promise.resolve(m.migration),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs the accounting migrations as the schema owner (`kv_owner`). Forward-only and idempotent; safe when
 * several instances start at once (a concurrent run holding knex's migration lock is waited for, up to ~60 s).
 * @throws the migration error, or knex's lock error if another run holds the lock for too long.
 */
export async function migrate(ownerKnex: Knex, roles: MigrationRoles = DEFAULT_ROLES): Promise<void> {
  await ownerKnex.raw(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
  const config: Knex.MigratorConfig = {
    migrationSource: migrationSource(roles),
    tableName: 'knex_migrations',
    schemaName: SCHEMA,
  };
  for (let attempt = 0; ; attempt++) {
    try {
      await ownerKnex.migrate.latest(config);
      return;
    } catch (err) {
      const locked = err instanceof Error && err.name === 'MigrationLocked';
      if (!locked || attempt >= 120) throw err;
      await sleep(500);
    }
  }
}
