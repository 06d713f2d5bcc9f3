import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import {
  NGINX_DEFAULTS,
  optionsFromEnv,
  renderNginxConfig,
  writeNginxConfig,
  type NginxOptions,
  type NginxUpstream,
  type WrittenNginxConfig,
} from '../../../infra/nginx/render.cjs';

export { NGINX_DEFAULTS, optionsFromEnv, renderNginxConfig, writeNginxConfig };
export type { NginxOptions, NginxUpstream, WrittenNginxConfig };

/** The nginx binary used unless a function is given `bin`. */
const DEFAULT_BIN = 'nginx';

/** True when an `nginx` binary is on PATH (or `bin` runs). */
export function nginxAvailable(bin = DEFAULT_BIN): boolean {
  return spawnSync(bin, ['-v'], { stdio: 'ignore' }).status === 0;
}

/** Result of `nginx -t` on a written config. */
export interface NginxTestResult {
  ok: boolean;
  /** nginx's own report (it prints to stderr). */
  output: string;
}

/** Runs `nginx -t` against a config written by {@link writeNginxConfig}. Never throws for a bad config. */
export function testNginxConfig(written: WrittenNginxConfig, bin = DEFAULT_BIN): NginxTestResult {
  const r = spawnSync(bin, ['-t', ...written.args.slice(0, 6)], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** A running nginx started by {@link startNginx}. */
export interface RunningNginx {
  written: WrittenNginxConfig;
  /** Base URL of the plain HTTP listener, e.g. `http://127.0.0.1:18080`. */
  url: string;
  pid: number;
  /** Graceful stop (`SIGQUIT`), waits for the master to exit (SIGKILL after `timeoutMs`, default 5000). */
  stop(timeoutMs?: number): Promise<void>;
  /** The error log so far (for failure messages). */
  errorLog(): string;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function waitExit(proc: ChildProcess, timeoutMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Writes the config (see {@link writeNginxConfig}) and starts nginx unprivileged in the foreground
 * (`-p PREFIX -c PREFIX/nginx.conf -e ... -g 'daemon off;'`). Resolves once the HTTP port accepts
 * connections. Throws with nginx's error log when it exits or is not listening within `timeoutMs`
 * (default 10000).
 */
export async function startNginx(
  options: NginxOptions,
  { bin = DEFAULT_BIN, timeoutMs = 10_000 }: { bin?: string; timeoutMs?: number } = {},
): Promise<RunningNginx> {
  const written = writeNginxConfig(options);
  const proc = spawn(bin, written.args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const errorLog = () => {
    const log = fs.existsSync(written.errorLogPath) ? fs.readFileSync(written.errorLogPath, 'utf8') : '';
    return `${stderr}${log}`;
  };
  const host = options.listenHost && options.listenHost !== '0.0.0.0' ? options.listenHost : '127.0.0.1';
  const port = options.listenPort ?? NGINX_DEFAULTS.listenPort;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`nginx exited (${proc.exitCode ?? proc.signalCode}) on start:\n${errorLog()}`);
    if (await portOpen(host, port)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`nginx is not listening on ${host}:${port} after ${timeoutMs} ms:\n${errorLog()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    written,
    url: `http://${host}:${port}`,
    pid: proc.pid ?? -1,
    errorLog,
    async stop(stopTimeoutMs = 5000) {
      proc.kill('SIGQUIT');
      await waitExit(proc, stopTimeoutMs);
    },
  };
}
