/**
 * `pnpm bench`: starts a private stack (or targets BENCH_TARGET), provisions tenants and users, runs every
 * scenario one after another, each against its physical limit (pgbench) and, for reservations, the seed's
 * design; prints the table and writes JSON, HTML and Markdown reports under tools/bench/out/.
 * Environment: see src/config.ts (BENCH_DURATION_S, BENCH_QUICK=1, BENCH_SCENARIOS, BENCH_TARGET, ...).
 */
import { loadConfig } from '@kv/config';
import { benchEnvSchema, planFrom } from './config';
import { Progress } from './load';
import { renderConsole } from './report';
import { runBench } from './run';
import { DEFAULT_OUT } from './target';

async function main(): Promise<void> {
  const plan = planFrom(loadConfig(benchEnvSchema, process.env), DEFAULT_OUT);
  const progress = new Progress();
  let stopTarget: (() => Promise<void>) | undefined;
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    progress.log(`${signal}: stopping the stack ...`);
    void (stopTarget ? stopTarget() : Promise.resolve()).finally(() =>
      process.exit(signal === 'error' ? 1 : 130),
    );
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  // Whatever goes wrong, never leave the stack's processes running.
  process.on('uncaughtException', (err) => {
    progress.log(`unexpected error: ${err.stack ?? err.message}`);
    process.exitCode = 1;
    onSignal('error');
  });
  const { report, files } = await runBench({
    plan,
    database: plan.database,
    progress,
    onTarget: (stop) => (stopTarget = stop),
  });
  process.stdout.write(`\n${renderConsole(report)}\n\n`);
  process.stdout.write(`reports: ${files.json}\n         ${files.html}\n         ${files.markdown}\n`);
  if (report.failures.length) {
    process.stdout.write(`\nFAILED:\n${report.failures.map((f) => `  - ${f}`).join('\n')}\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
