import { z } from 'zod';
import { env } from '@kv/config';

const csvInts = (def: number[]) =>
  z
    .string()
    .regex(/^\d+(,\d+)*$/, 'must be a comma list of integers')
    .transform((v) => v.split(',').map(Number))
    .optional()
    .transform((v) => v ?? def);

/** Environment of `pnpm bench` (every variable is optional). */
export const benchEnvSchema = z.object({
  /** Base URL of a running stack to target instead of starting one (e.g. `http://127.0.0.1:8080`). */
  BENCH_TARGET: env.url(['http', 'https']).optional(),
  /** Superuser URL of the target's PostgreSQL database (seeding in SQL, pgbench, peer baseline, lag). */
  BENCH_DATABASE_URL: env.url(['postgres', 'postgresql']).optional(),
  /** Redis for the peer baseline's locks when targeting (default the local 6379, keys under a bench prefix). */
  BENCH_REDIS_URL: env.url(['redis', 'rediss']).optional(),
  /** Platform admin of the target (defaults: PLATFORM_ADMIN_EMAIL / PLATFORM_ADMIN_PASSWORD). */
  BENCH_ADMIN_EMAIL: z.string().optional(),
  BENCH_ADMIN_PASSWORD: z.string().optional(),
  PLATFORM_ADMIN_EMAIL: z.string().default('admin@platform.local'),
  PLATFORM_ADMIN_PASSWORD: z.string().optional(),
  /** 1 = every phase ~2 s with small scales (the smoke test). */
  BENCH_QUICK: env.bool(false),
  /** Seconds measured per phase; default 10 (2 in quick mode). */
  BENCH_DURATION_S: z.coerce.number().positive().max(3600).optional(),
  /** Seconds of warm-up before each API phase (not measured); default 2 (0.5 quick). */
  BENCH_WARMUP_S: z.coerce.number().min(0).max(600).optional(),
  /** Concurrent HTTP connections of the main scenarios; default 64. */
  BENCH_CONNECTIONS: env.int(64, 1, 5000),
  /**
   * Database connections per side: each service's pool (DB_POOL_MAX of the stack the bench starts), pgbench's
   * clients and the peer baseline's pool; default 12 (PostgreSQL here allows 100 connections in all).
   */
  BENCH_DB_CLIENTS: env.int(12, 1, 500),
  /** Tenants provisioned through the API for the main scenarios; default 20 (2 quick). */
  BENCH_TENANTS: z.coerce.number().int().min(1).max(1000).optional(),
  /** Extra users per main tenant (created through the API, each logs in); default 4 (1 quick). */
  BENCH_USERS_PER_TENANT: z.coerce.number().int().min(0).max(100).optional(),
  /** SKUs per main tenant; default 10,000 (500 quick). */
  BENCH_SKUS: z.coerce.number().int().min(1).max(1_000_000).optional(),
  /** Accounts per main tenant for spread journal entries; default 1,000 (50 quick). */
  BENCH_ACCOUNTS: z.coerce.number().int().min(2).max(100_000).optional(),
  /** Tenant counts of the scale phases; default 10,1000,10000 (5,50 quick). */
  BENCH_SCALES: z.string().optional(),
  /** SKUs per scale tenant; default 50 (20 quick). */
  BENCH_SCALE_SKUS: z.coerce.number().int().min(1).max(100_000).optional(),
  /** Connection counts of the sweep; default 8,32,128,512,1000 (8,64 quick). */
  BENCH_SWEEP: z.string().optional(),
  /** Only these scenarios (comma list of ids, e.g. `reserve-spread,sweep`); default all. */
  BENCH_SCENARIOS: env.list(),
  /** Gateways behind nginx when the bench starts the stack; default 3. */
  BENCH_GATEWAYS: env.int(3, 1, 32),
  /** Database of the private stack (dropped and recreated); default kvbench (kvbench_quick in quick mode). */
  BENCH_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .optional(),
  /** Folder for V8 CPU profiles of every app process (`--cpu-prof`), written when the stack stops; default none. */
  BENCH_PROFILE_DIR: z.string().optional(),
  /** Output folder; default tools/bench/out. */
  BENCH_OUT: z.string().optional(),
  /** pgbench binary; default /usr/bin/pgbench (or the one on PATH). */
  PGBENCH: z.string().optional(),
});
export type BenchEnv = z.infer<typeof benchEnvSchema>;

/** Everything a run needs, with quick-mode defaults applied. */
export interface BenchPlan {
  quick: boolean;
  target: string | undefined;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  admin: { email: string; password: string | undefined };
  durationS: number;
  warmupS: number;
  connections: number;
  dbClients: number;
  tenants: number;
  usersPerTenant: number;
  skus: number;
  accounts: number;
  scales: number[];
  scaleSkus: number;
  sweep: number[];
  scenarios: Set<string>;
  gateways: number;
  database: string;
  profileDir: string | undefined;
  outDir: string;
  pgbench: string;
}

/** Scenario ids, in the order they run. */
export const SCENARIO_IDS = [
  'http-floor',
  'reserve-spread',
  'reserve-hot',
  'reserve-commit',
  'journal-hot',
  'journal-spread',
  'read-mix',
  'scale',
  'sweep',
] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

function ints(raw: string | undefined, def: number[], name: string): number[] {
  const parsed = csvInts(def).safeParse(raw);
  if (!parsed.success) throw new Error(`${name} must be a comma list of integers`);
  return parsed.data;
}

/** Applies defaults (quick or full) to the parsed environment. */
export function planFrom(e: BenchEnv, outDirDefault: string): BenchPlan {
  const q = e.BENCH_QUICK;
  const unknown = e.BENCH_SCENARIOS.filter((s) => !(SCENARIO_IDS as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`BENCH_SCENARIOS: unknown scenario(s) ${unknown.join(', ')}`);
  return {
    quick: q,
    target: e.BENCH_TARGET,
    databaseUrl: e.BENCH_DATABASE_URL,
    redisUrl: e.BENCH_REDIS_URL,
    admin: {
      email: e.BENCH_ADMIN_EMAIL ?? e.PLATFORM_ADMIN_EMAIL,
      password: e.BENCH_ADMIN_PASSWORD ?? e.PLATFORM_ADMIN_PASSWORD,
    },
    durationS: e.BENCH_DURATION_S ?? (q ? 2 : 10),
    warmupS: e.BENCH_WARMUP_S ?? (q ? 0.5 : 2),
    connections: e.BENCH_CONNECTIONS,
    dbClients: e.BENCH_DB_CLIENTS,
    tenants: e.BENCH_TENANTS ?? (q ? 2 : 20),
    usersPerTenant: e.BENCH_USERS_PER_TENANT ?? (q ? 1 : 4),
    skus: e.BENCH_SKUS ?? (q ? 500 : 10_000),
    accounts: e.BENCH_ACCOUNTS ?? (q ? 50 : 1000),
    scales: ints(e.BENCH_SCALES, q ? [5, 50] : [10, 1000, 10_000], 'BENCH_SCALES'),
    scaleSkus: e.BENCH_SCALE_SKUS ?? (q ? 20 : 50),
    sweep: ints(e.BENCH_SWEEP, q ? [8, 64] : [8, 32, 128, 512, 1000], 'BENCH_SWEEP'),
    scenarios: new Set(e.BENCH_SCENARIOS.length ? e.BENCH_SCENARIOS : SCENARIO_IDS),
    gateways: e.BENCH_GATEWAYS,
    database: e.BENCH_DATABASE ?? (q ? 'kvbench_quick' : 'kvbench'),
    profileDir: e.BENCH_PROFILE_DIR,
    outDir: e.BENCH_OUT ?? outDirDefault,
    pgbench: e.PGBENCH ?? '/usr/bin/pgbench',
  };
}
