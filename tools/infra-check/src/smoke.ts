import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';

/** Result of {@link smokeStartApp}. */
export interface SmokeResult {
  /** Exit code of `node dist/migrate-main.js`. */
  migrateExit: number | null;
  /** Status of `GET /health/live` once it answered. */
  liveStatus: number;
  /** Status and body of `GET /health/ready`. */
  ready: { status: number; body: string };
  /** Exit code after SIGTERM (graceful shutdown), or `null` when it had to be killed. */
  shutdownExit: number | null;
  /** Milliseconds from spawn to the first 200 on /health/live. */
  startMs: number;
  /** Everything the processes wrote (last 20 kB), for failure messages. */
  output: string;
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { timeout: 2000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('timeout'));
      })
      .on('error', reject);
  });
}

function exitOf(p: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (p.exitCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      resolve(null);
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/**
 * Starts a built app the way its image does: `node dist/migrate-main.js` (must exit 0), then
 * `node dist/main.js` with `PORT=port`; waits up to `timeoutMs` (default 30000) for /health/live,
 * reads /health/ready, then sends SIGTERM and waits up to 15 s for a clean exit.
 */
export async function smokeStartApp(
  appDir: string,
  env: Record<string, string>,
  port: number,
  timeoutMs = 30_000,
): Promise<SmokeResult> {
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
  };
  const fullEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'production',
    ...env,
    PORT: String(port),
  };
  const migrate = spawn(process.execPath, ['dist/migrate-main.js'], { cwd: appDir, env: fullEnv });
  migrate.stdout.on('data', keep);
  migrate.stderr.on('data', keep);
  const migrateExit = await exitOf(migrate, 60_000);
  const result: SmokeResult = {
    migrateExit,
    liveStatus: 0,
    ready: { status: 0, body: '' },
    shutdownExit: null,
    startMs: 0,
    output,
  };
  if (migrateExit !== 0) return { ...result, output };

  const started = Date.now();
  const app = spawn(process.execPath, ['dist/main.js'], { cwd: appDir, env: fullEnv });
  app.stdout.on('data', keep);
  app.stderr.on('data', keep);
  try {
    while (Date.now() - started < timeoutMs && app.exitCode === null) {
      const live = await get(`http://127.0.0.1:${port}/health/live`).catch(() => undefined);
      if (live?.status === 200) {
        result.liveStatus = 200;
        result.startMs = Date.now() - started;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    if (result.liveStatus === 200) result.ready = await get(`http://127.0.0.1:${port}/health/ready`);
  } finally {
    app.kill('SIGTERM');
    result.shutdownExit = await exitOf(app, 15_000);
  }
  return { ...result, output };
}
