import knexFactory, { type Knex } from 'knex';

export interface PoolOptions {
  /** Most connections; size it to the cores (2 cores: 10-20). */
  max: number;
  /** Server-side statement timeout in ms; default 15000. */
  statementTimeoutMs?: number;
  /** Shows in `pg_stat_activity`. */
  applicationName?: string;
  /** How long a query waits for a free pooled connection before failing (→ 503); default 10000 ms. */
  acquireTimeoutMs?: number;
}

/** A knex pool for one role's URL. A session left idle inside a transaction is cut after 60 s. */
export function createPool(url: string, options: PoolOptions): Knex {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: url,
      application_name: options.applicationName ?? 'inventory',
      statement_timeout: options.statementTimeoutMs ?? 15_000,
      idle_in_transaction_session_timeout: 60_000,
    },
    pool: { min: 0, max: options.max },
    acquireConnectionTimeout: options.acquireTimeoutMs ?? 10_000,
  });
}
