import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');

/**
 * The CI version of the chaos run: exactly what `pnpm chaos --short` runs (tools/bootstrap.cjs), about 60 s of
 * workload under faults, then every invariant checked. The run exits 0 only if every verdict is PASS; on a
 * failure this test prints the run's output (fault schedule, verdicts, where the logs are).
 */
describe('pnpm chaos --short', () => {
  let child: ChildProcess | undefined;

  afterAll(async () => {
    // On a jest timeout, stop the whole run (its own process group): the harness cleans up on SIGTERM.
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      process.kill(-child.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    }
  });

  it('keeps every invariant under injected faults (exit 0)', async () => {
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      const c = spawn(process.execPath, [path.join(ROOT, 'tools', 'bootstrap.cjs'), 'chaos', '--short'], {
        cwd: ROOT,
        env: { ...process.env, CHAOS_SETTLE_TIMEOUT_S: '60' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      child = c;
      let stdout = '';
      let stderr = '';
      c.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
      c.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-20_000)));
      c.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
    // The verdicts are in stdout (shown by the failed expectation); the progress log is in stderr.
    if (code !== 0) process.stderr.write(`${stderr.slice(-6000)}\n`);
    expect(stdout).toMatch(/^chaos: PASS/m);
    expect(stdout).toMatch(/PASS {2}no oversell/);
    expect(code).toBe(0);
  }, 240_000);
});
