import { spawn } from 'node:child_process';

/** One runbook block and how its run went. */
export interface RunbookResult {
  command: string;
  ok: boolean;
  /** Exit code, or the signal/timeout that ended it. */
  exit: string;
  /** The last part of stdout+stderr. */
  output: string;
}

/**
 * The shell blocks of a Markdown document that are meant to run against a live stack: fenced code blocks whose
 * info string is exactly `sh` (```` ```sh ````). Blocks fenced as `console`, `bash` or anything else are not
 * returned (they are run by CI or a test elsewhere).
 */
export function runbookBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  const re = /^```sh[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) {
    const body = m[1]?.trim();
    if (body) blocks.push(body);
  }
  return blocks;
}

/** Runs one block with `bash -euo pipefail`, the given environment added, and a timeout. */
export function runBlock(
  command: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<RunbookResult> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', command], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (b: Buffer) => {
      output = (output + b.toString('utf8')).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ command, ok: code === 0, exit: signal ? `signal ${signal}` : `exit ${code}`, output });
    });
  });
}
