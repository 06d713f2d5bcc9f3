import type { Knex } from 'knex';

/** One forward-only migration. */
export interface Migration {
  up: (knex: Knex) => Promise<void>;
}

export interface MigrationPlan {
  /** The service's schema; created if missing, and where knex keeps its migrations table. */
  schema: string;
  /** Migrations by name; they run in name order. */
  migrations: Record<string, Migration>;
  /** Roles granted USAGE on the schema (table grants are each migration's business). */
  grantUsageTo: string[];
  /** Advisory lock key that serialises concurrent runs across processes (any constant unique per service). */
  lockKey: number;
}

/** In-code migration source: the same list under jest, tsx and compiled `dist/`. `down` always refuses. */
export function createMigrationSource(migrations: Record<string, Migration>): Knex.MigrationSource<string> {
  return {
    getMigrations: () => Promise.resolve(Object.keys(migrations).sort()),
    getMigrationName: (name) => name,
    getMigration: (name) => {
      const m = migrations[name];
      if (!m) throw new Error(`unknown migration ${name}`);
      return Promise.resolve({
        up: m.up,
        down: () => Promise.reject(new Error('migrations only move forward')),
      });
    },
  };
}

const inProcess = new WeakMap<Knex, Promise<string[]>>();

/**
 * Brings `plan.schema` up to date. Run it as the owner role (`kv_owner`) with a pool of at least two
 * connections (one holds the advisory lock). Safe to call concurrently and repeatedly: calls sharing one pool
 * queue in process (each would otherwise hold a pooled connection while waiting for the lock, starving the
 * holder); other processes queue on the advisory lock.
 * @returns the names of the migrations that ran.
 */
export function runMigrations(ownerKnex: Knex, plan: MigrationPlan): Promise<string[]> {
  const previous = inProcess.get(ownerKnex) ?? Promise.resolve([]);
  const next = previous.catch(() => []).then(() => runLocked(ownerKnex, plan));
  inProcess.set(ownerKnex, next);
  return next;
}

function runLocked(ownerKnex: Knex, plan: MigrationPlan): Promise<string[]> {
  return ownerKnex.transaction(async (lock) => {
    await lock.raw('SELECT pg_advisory_xact_lock(?)', [plan.lockKey]);
    await ownerKnex.raw(`CREATE SCHEMA IF NOT EXISTS ${plan.schema}`);
    if (plan.grantUsageTo.length) {
      await ownerKnex.raw(`GRANT USAGE ON SCHEMA ${plan.schema} TO ${plan.grantUsageTo.join(', ')}`);
    }
    const [, log] = (await ownerKnex.migrate.latest({
      migrationSource: createMigrationSource(plan.migrations),
      tableName: 'knex_migrations',
      schemaName: plan.schema,
    })) as [number, string[]];
    return log;
  });
}

/**
 * Body of a service's `migrate-main` CLI (the Kubernetes migration Job): runs `migrate` on a two-connection
 * owner pool, logs one JSON line, and exits 1 on failure. The caller reads and validates its own config.
 */
export async function runMigrationCli(
  service: string,
  createOwnerKnex: () => Knex,
  migrate: (ownerKnex: Knex) => Promise<string[]>,
): Promise<void> {
  let owner: Knex | undefined;
  try {
    owner = createOwnerKnex();
    const ran = await migrate(owner);
    process.stdout.write(`${JSON.stringify({ message: 'migrations applied', service, ran })}\n`);
  } catch (err) {
    process.stderr.write(
      `${JSON.stringify({ message: 'migration failed', service, error: err instanceof Error ? err.message : String(err) })}\n`,
    );
    process.exitCode = 1;
  } finally {
    await owner?.destroy();
  }
}
