import { Client } from 'pg';

/** Database URLs the bench uses on the stack's database. */
export interface BenchDb {
  /** Superuser: bench bookkeeping (schema `bench`), ANALYZE, measurements across schemas. */
  adminUrl: string;
  /** Table owner `kv_owner`: seeding rows (row-level security applies: one tenant at a time). */
  ownerUrl: string;
  /** Request role `kv_app`: pgbench and the peer baseline, like the services. */
  appUrl: string;
  /** Database name. */
  name: string;
}

/** Runs `fn` with a connected client, then closes it. */
export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url, statement_timeout: 600_000 });
  // A connection the server ends while idle reports here; the pending query (if any) rejects on its own.
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Rows of one query. */
export async function rows<R>(c: Client, sql: string, params: unknown[] = []): Promise<R[]> {
  const r = await c.query(sql, params);
  return r.rows as R[];
}
