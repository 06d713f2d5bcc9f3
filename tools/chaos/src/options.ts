import { randomInt } from 'node:crypto';

/** What a chaos run does; parsed once from the command line and the environment (see {@link parseOptions}). */
export interface ChaosOptions {
  /** Length of the workload with faults, in s. `CHAOS_DURATION_S` or `--duration=N`; default 120, `--short` 60. */
  durationS: number;
  /** Seed of the fault schedule and the workload mix. `CHAOS_SEED` or `--seed=N`; default random (printed). */
  seed: number;
  /** Concurrent virtual clients. `CHAOS_CLIENTS`; default 6. */
  clients: number;
  /** Tenants the clients work in. `CHAOS_TENANTS`; default 2. */
  tenants: number;
  /** Gateway instances behind nginx. `CHAOS_GATEWAYS`; default 2. */
  gateways: number;
  /** Longest wait for the system to settle after the last fault, in s. `CHAOS_SETTLE_TIMEOUT_S`; default 150. */
  settleTimeoutS: number;
  /** Client timeout of one HTTP attempt, in ms. `CHAOS_REQUEST_TIMEOUT_MS`; default 20000. */
  requestTimeoutMs: number;
  /** How long one operation keeps retrying before the client gives up, in s. `CHAOS_OP_DEADLINE_S`; default 60. */
  opDeadlineS: number;
  /**
   * Seconds after a fault's recovery during which a 503 still counts as caused by it (the gateway's circuit
   * breaker stays open 5 s after an upstream failure). `CHAOS_FAULT_GRACE_S`; default 8.
   */
  faultGraceS: number;
  /** Superuser URL of the PostgreSQL to use. `CHAOS_PG_URL`; default the local one (`postgres@127.0.0.1:5432`). */
  pgAdminUrl: string;
  /**
   * Superuser URL of a streaming replica of that PostgreSQL (used through a proxy that the harness cuts).
   * `CHAOS_REPLICA_URL`; default `postgres://postgres@127.0.0.1:5433/postgres` when it answers and is in
   * recovery; `--no-replica` or `CHAOS_REPLICA_URL=off` skips the replica fault.
   */
  replicaUrl: string | undefined;
  /** Keep the database and the logs after a passing run. `--keep` or `CHAOS_KEEP=1`. */
  keep: boolean;
  /** Build the apps (`turbo run build`) before starting even when `apps/*\/dist` exists. `--build`. */
  build: boolean;
  /** Also write the report as JSON to this path. `CHAOS_REPORT`. */
  reportPath: string | undefined;
  /** Print each response that is a 5xx or unexpected as it happens. `--verbose` or `CHAOS_VERBOSE=1`. */
  verbose: boolean;
}

const DEFAULT_REPLICA_URL = 'postgres://postgres@127.0.0.1:5433/postgres';

function intFrom(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function flag(argv: string[], name: string): boolean {
  return argv.includes(`--${name}`);
}

function valueOf(argv: string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

/**
 * Parses `argv` (without node and script) and `env`. Throws naming the bad option or variable.
 * Flags: `--short`, `--duration=N`, `--seed=N`, `--keep`, `--build`, `--no-replica`, `--verbose`.
 */
export function parseOptions(argv: string[], env: Record<string, string | undefined>): ChaosOptions {
  const known = ['short', 'keep', 'build', 'no-replica', 'verbose'];
  for (const a of argv) {
    if (a === '--') continue;
    const name = a.replace(/^--/, '').split('=')[0] ?? '';
    if (!a.startsWith('--') || (!known.includes(name) && !['duration', 'seed'].includes(name)))
      throw new Error(
        `unknown argument ${a} (known: --short --duration=N --seed=N --keep --build --no-replica --verbose)`,
      );
  }
  const short = flag(argv, 'short');
  const durationS = intFrom(
    '--duration / CHAOS_DURATION_S',
    valueOf(argv, 'duration') ?? env.CHAOS_DURATION_S,
    short ? 60 : 120,
    10,
    86_400,
  );
  const replicaEnv = env.CHAOS_REPLICA_URL;
  const noReplica = flag(argv, 'no-replica') || replicaEnv === 'off';
  return {
    durationS,
    seed: intFrom(
      '--seed / CHAOS_SEED',
      valueOf(argv, 'seed') ?? env.CHAOS_SEED,
      randomInt(1, 2 ** 31),
      0,
      2 ** 32 - 1,
    ),
    clients: intFrom('CHAOS_CLIENTS', env.CHAOS_CLIENTS, 6, 1, 200),
    tenants: intFrom('CHAOS_TENANTS', env.CHAOS_TENANTS, 2, 1, 20),
    gateways: intFrom('CHAOS_GATEWAYS', env.CHAOS_GATEWAYS, 2, 1, 16),
    settleTimeoutS: intFrom('CHAOS_SETTLE_TIMEOUT_S', env.CHAOS_SETTLE_TIMEOUT_S, 150, 10, 3600),
    requestTimeoutMs: intFrom('CHAOS_REQUEST_TIMEOUT_MS', env.CHAOS_REQUEST_TIMEOUT_MS, 20_000, 500, 600_000),
    opDeadlineS: intFrom('CHAOS_OP_DEADLINE_S', env.CHAOS_OP_DEADLINE_S, 60, 5, 3600),
    faultGraceS: intFrom('CHAOS_FAULT_GRACE_S', env.CHAOS_FAULT_GRACE_S, 8, 0, 600),
    pgAdminUrl: env.CHAOS_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
    replicaUrl: noReplica ? undefined : replicaEnv || DEFAULT_REPLICA_URL,
    keep: flag(argv, 'keep') || env.CHAOS_KEEP === '1',
    build: flag(argv, 'build'),
    reportPath: env.CHAOS_REPORT || undefined,
    verbose: flag(argv, 'verbose') || env.CHAOS_VERBOSE === '1',
  };
}
