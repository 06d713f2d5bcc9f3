import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { histogramOf, percentiles, type PhaseStats } from './stats';

/** Folder of the committed pgbench scripts. */
export const PGBENCH_DIR = path.resolve(__dirname, '..', 'pgbench');

export interface PgbenchOptions {
  /** pgbench binary. */
  bin: string;
  /** Connection URL (the role the scripts run as, normally kv_app). */
  url: string;
  /** Scripts with weights, e.g. `[['reserve.sql', 1]]` (names inside {@link PGBENCH_DIR}). */
  scripts: [string, number][];
  /** `-D` variables. */
  vars: Record<string, string | number>;
  clients: number;
  threads: number;
  durationS: number;
  /** Called with pgbench's pid once it runs (for CPU sampling). */
  onSpawn?: (pid: number) => void;
}

/** True when the pgbench binary can be run. */
export function havePgbench(bin: string): boolean {
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function connectionEnv(url: string): Record<string, string> {
  const u = new URL(url);
  return {
    PGHOST: u.hostname,
    PGPORT: u.port || '5432',
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: u.pathname.replace(/^\//, ''),
  };
}

/**
 * Runs pgbench (`-M prepared`, no vacuum) for `durationS` and returns the same statistics as an API phase:
 * throughput = script runs per second, latencies from the per-transaction log (`-l`), failures as errors.
 * @throws Error with pgbench's output when it exits non-zero.
 */
export async function runPgbench(o: PgbenchOptions): Promise<PhaseStats> {
  // PostgreSQL is shared: when its connection slots are momentarily full, wait and try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await runPgbenchOnce(o);
    } catch (err) {
      const full = err instanceof Error && /remaining connection slots|too many clients/.test(err.message);
      if (!full || attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 5000 * attempt));
    }
  }
}

async function runPgbenchOnce(o: PgbenchOptions): Promise<PhaseStats> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-pgbench-'));
  const args = [
    '-n',
    '-M',
    'prepared',
    '-c',
    String(o.clients),
    '-j',
    String(Math.min(o.threads, o.clients)),
    '-T',
    String(Math.max(1, Math.round(o.durationS))),
    '-l',
    `--log-prefix=${path.join(dir, 'log')}`,
    ...Object.entries(o.vars).flatMap(([k, v]) => ['-D', `${k}=${v}`]),
    ...o.scripts.flatMap(([file, weight]) => ['-f', `${path.join(PGBENCH_DIR, file)}@${weight}`]),
  ];
  try {
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve, reject) => {
      const child = spawn(o.bin, args, { env: { ...process.env, ...connectionEnv(o.url) } });
      if (child.pid !== undefined) o.onSpawn?.(child.pid);
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('exit', (c) => resolve({ code: c ?? 1, output }));
    });
    if (code !== 0) throw new Error(`pgbench exited ${code}:\n${output.slice(-3000)}`);
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(output)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0);
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1] ?? NaN);
    const lat: number[] = [];
    for (const f of fs.readdirSync(dir)) {
      for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        // client_id transaction_no time_us script_no time_epoch time_us_part ...
        const us = Number(line.split(' ')[2]);
        if (Number.isFinite(us)) lat.push(us / 1000);
      }
    }
    const seconds = o.durationS;
    const total = processed + failed;
    return {
      ok: processed,
      errors: failed,
      total,
      seconds,
      throughput: Number.isFinite(tps) ? tps : processed / seconds,
      errorRate: total ? failed / total : 0,
      latency: percentiles(lat),
      histogram: histogramOf(lat),
      timeline: [],
      errorKinds: failed ? { failed } : {},
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
