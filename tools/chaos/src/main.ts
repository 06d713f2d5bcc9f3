/**
 * `pnpm chaos [--short] [--duration=N] [--seed=N] [--keep] [--build] [--no-replica] [--verbose]`
 *
 * Starts a private stack (own database, own Redis, free ports), runs a mixed workload with client retries and
 * idempotency keys while injecting faults on a schedule, lets the system settle, checks the invariants from the
 * database and prints one PASS/FAIL line per invariant. Exit code 0 only when every invariant holds.
 * See docs/concurrency-testing.md.
 */
import { parseOptions } from './options';
import { formatReport } from './report';
import { runChaos } from './run';

function say(message: string): void {
  process.stderr.write(`[chaos] ${message}\n`);
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  let stopping = false;
  let cleanup: (() => Promise<void>) | undefined;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: cleaning up ...`);
    void (cleanup ? cleanup() : Promise.resolve()).finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const report = await runChaos(opts, say, (c) => {
    cleanup = c;
  });
  process.stdout.write(formatReport(report));
  return report.pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`chaos run aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(2);
  },
);
