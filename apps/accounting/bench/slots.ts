/**
 * Balance slot count sweep (not a test): `pnpm --filter @kv/accounting exec tsx --conditions=@kv/source bench/slots.ts`.
 *
 * On a fresh, migrated database, pgbench runs bench/post-entry-hot.sql (the service's posting statement) on one hot
 * pair of accounts with 1, 4, 16 and 64 balance slots per account (set for the role, so the SQL is the same), in
 * alternating rounds. Prints tps per slot count. Environment: SLOTS_DURATION_S (6), SLOTS_CLIENTS (48),
 * SLOTS_ROUNDS (2), SLOTS_COUNTS (`1,4,16,64`), BENCH_ADMIN_URL.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import knex from 'knex';
import { createTestDatabase, DEFAULT_ADMIN_URL } from '@kv/testing';
import { migrate } from '../src/migrate';

const DURATION_S = Number(process.env.SLOTS_DURATION_S ?? 6);
const CLIENTS = Number(process.env.SLOTS_CLIENTS ?? 48);
const ROUNDS = Number(process.env.SLOTS_ROUNDS ?? 2);
const SLOT_COUNTS = (process.env.SLOTS_COUNTS ?? '1,4,16,64').split(',').map(Number);

async function main(): Promise<void> {
  const db = await createTestDatabase('acct_slots', process.env.BENCH_ADMIN_URL ?? DEFAULT_ADMIN_URL);
  const owner = knex({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 1 } });
  const admin = knex({ client: 'pg', connection: db.urls.admin, pool: { min: 0, max: 1 } });
  try {
    await migrate(owner);
    const tenant = randomUUID();
    const [a1, a2] = [randomUUID(), randomUUID()];
    await owner.transaction(async (trx) => {
      await trx.raw(`SELECT set_config('app.tenant_id', ?, true)`, [tenant]);
      await trx.raw(
        `INSERT INTO accounting.accounts (tenant_id, id, code, name, type) VALUES (?, ?, 'H1', 'Hot 1', 'asset'), (?, ?, 'H2', 'Hot 2', 'revenue')`,
        [tenant, a1, tenant, a2],
      );
    });
    const u = new URL(db.urls.app);
    const tps = new Map<number, number[]>(SLOT_COUNTS.map((n) => [n, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const n of SLOT_COUNTS) {
        await admin.raw(`ALTER ROLE kv_app IN DATABASE ${db.name} SET accounting.balance_slots = '${n}'`);
        const run = spawnSync(
          'pgbench',
          [
            ...['-n', '-h', u.hostname, '-p', u.port || '5432', '-U', 'kv_app', '-M', 'extended'],
            ...['-c', String(CLIENTS), '-j', '2', '-T', String(DURATION_S)],
            ...['-f', path.join(__dirname, 'post-entry-hot.sql')],
            ...['-D', `tenant=${tenant}`, '-D', `user=${randomUUID()}`, '-D', `a1=${a1}`, '-D', `a2=${a2}`],
            db.name,
          ],
          { encoding: 'utf8' },
        );
        if (run.status !== 0) throw new Error(`pgbench failed: ${run.stderr}`);
        const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(run.stdout);
        tps.get(n)!.push(Number(m?.[1] ?? NaN));
        process.stdout.write(`round ${round + 1}, ${n} slot(s): ${m?.[1] ?? '?'} tps\n`);
      }
    }
    await admin.raw(`ALTER ROLE kv_app IN DATABASE ${db.name} RESET accounting.balance_slots`);
    process.stdout.write(`\n${CLIENTS} clients, ${DURATION_S} s per run\n`);
    for (const [n, runs] of tps)
      process.stdout.write(
        `${String(n).padStart(3)} slot(s): ${runs.map((t) => t.toFixed(0)).join(', ')} tps\n`,
      );
  } finally {
    await owner.destroy();
    await admin.destroy();
    await db.drop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `slots sweep failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
