import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** URL polled until it answers 200 (readiness). */
  readyUrl?: string;
}

interface Running {
  spec: ProcessSpec;
  child: ChildProcess | undefined;
  restarts: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Starts processes, writes their output to `logDir/<name>.log`, and restarts one that dies (with backoff up to
 * 10 s), as a process manager or Kubernetes would. `stop()` sends SIGTERM to all and waits for them to drain.
 */
export class Supervisor {
  private readonly procs = new Map<string, Running>();
  private stopping = false;

  constructor(
    private readonly logDir: string,
    private readonly say: (m: string) => void,
  ) {
    fs.mkdirSync(logDir, { recursive: true });
  }

  start(spec: ProcessSpec): void {
    const running: Running = { spec, child: undefined, restarts: 0, timer: undefined };
    this.procs.set(spec.name, running);
    this.launch(running);
  }

  private launch(r: Running): void {
    const log = fs.openSync(path.join(this.logDir, `${r.spec.name}.log`), 'a');
    const child = spawn(r.spec.command, r.spec.args, {
      env: { ...process.env, ...r.spec.env },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    r.child = child;
    const startedAt = Date.now();
    child.once('exit', (code, signal) => {
      r.child = undefined;
      if (this.stopping) return;
      if (Date.now() - startedAt > 30_000) r.restarts = 0;
      const delay = Math.min(10_000, 500 * 2 ** r.restarts);
      r.restarts++;
      this.say(
        `${r.spec.name} exited (${signal ?? `code ${code}`}); restarting in ${delay} ms (log: ${path.join(this.logDir, `${r.spec.name}.log`)})`,
      );
      r.timer = setTimeout(() => this.launch(r), delay);
    });
  }

  /** Names and pids of the running processes (for fault injection). */
  processes(): { name: string; pid: number | undefined }[] {
    return [...this.procs.values()].map((r) => ({ name: r.spec.name, pid: r.child?.pid }));
  }

  /** Sends `signal` to one process; the supervisor restarts it if it dies. Returns false if it is not running. */
  signal(name: string, signal: NodeJS.Signals): boolean {
    const child = this.procs.get(name)?.child;
    return child ? child.kill(signal) : false;
  }

  /** Resolves when every process with a readyUrl answers 200, or rejects after `timeoutMs`. */
  async waitReady(
    timeoutMs: number,
    onProgress: (ready: string[], pending: string[]) => void,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const pending = new Set([...this.procs.values()].filter((p) => p.spec.readyUrl).map((p) => p.spec.name));
    const ready: string[] = [];
    while (pending.size) {
      for (const name of [...pending]) {
        const url = this.procs.get(name)?.spec.readyUrl;
        if (url && (await isReady(url))) {
          pending.delete(name);
          ready.push(name);
          onProgress(ready, [...pending]);
        }
      }
      if (!pending.size) return;
      if (Date.now() > deadline) {
        throw new Error(
          `not ready after ${timeoutMs / 1000} s: ${[...pending].join(', ')} (see logs in ${this.logDir})`,
        );
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  /** SIGTERM to all (in reverse start order), SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    const all = [...this.procs.values()].reverse();
    for (const r of all) if (r.timer) clearTimeout(r.timer);
    await Promise.all(
      all.map(
        (r) =>
          new Promise<void>((resolve) => {
            const child = r.child;
            if (!child || child.exitCode !== null) return resolve();
            const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill(r.spec.name === 'nginx' ? 'SIGQUIT' : 'SIGTERM');
          }),
      ),
    );
  }
}

export async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Runs a command to completion, output to the log file; resolves with its exit code. */
export function runOnce(spec: ProcessSpec, logDir: string): Promise<number> {
  fs.mkdirSync(logDir, { recursive: true });
  const log = fs.openSync(path.join(logDir, `${spec.name}.log`), 'a');
  const child = spawn(spec.command, spec.args, {
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}
