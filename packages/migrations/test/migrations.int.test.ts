import knexFactory, { type Knex } from 'knex';
import { createTestDatabase, type TestDatabase } from '@kv/testing';
import { runMigrations } from '../src';

let db: TestDatabase;
let owner: Knex;

beforeAll(async () => {
  db = await createTestDatabase('migrations');
  owner = knexFactory({ client: 'pg', connection: db.urls.owner, pool: { min: 0, max: 2 } });
});

afterAll(async () => {
  await owner.destroy();
  await db.drop();
});

describe('runMigrations', () => {
  const plan = {
    schema: 's',
    grantUsageTo: ['kv_app'],
    lockKey: 1,
    migrations: {
      '0002_b': { up: (k: Knex) => k.raw('ALTER TABLE s.t ADD COLUMN b int').then(() => undefined) },
      '0001_a': { up: (k: Knex) => k.raw('CREATE TABLE s.t (a int)').then(() => undefined) },
    },
  };

  it('runs pending migrations once, in name order, even when called concurrently on one pool', async () => {
    const runs = await Promise.all([
      runMigrations(owner, plan),
      runMigrations(owner, plan),
      runMigrations(owner, plan),
    ]);
    expect(runs.flat().sort()).toEqual(['0001_a', '0002_b']);
    expect(await runMigrations(owner, plan)).toEqual([]);
    const { rows } = await owner.raw(`SELECT has_schema_privilege('kv_app', 's', 'USAGE') AS ok`);
    expect(rows[0].ok).toBe(true);
  });
});
