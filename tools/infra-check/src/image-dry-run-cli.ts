/**
 * `pnpm --filter @kv/infra-check image-dry-run [app ...]`: runs each app's Dockerfile without Docker
 * (see image-dry-run.ts) and checks the result. Default: all four apps. Exits non-zero on any problem.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dryRunDockerfile, inspectAppImage } from './image-dry-run';
import { APPS, REPO_ROOT } from './paths';

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const apps = APPS.filter((a) => wanted.length === 0 || wanted.includes(a.name));
  const cache = new Map<string, string>();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-images-'));
  let failed = false;
  for (const app of apps) {
    const t0 = Date.now();
    try {
      const result = await dryRunDockerfile({
        dockerfile: path.join(REPO_ROOT, 'apps', app.name, 'Dockerfile'),
        workDir: path.join(root, app.name),
        stageCache: cache,
        log: (l) => process.stderr.write(`[${app.name}] ${l}\n`),
      });
      const problems = inspectAppImage(result);
      process.stdout.write(
        `${app.name}: ${problems.length ? `FAILED\n  ${problems.join('\n  ')}` : 'ok'} (${((Date.now() - t0) / 1000).toFixed(1)} s, ${result.appDir})\n`,
      );
      for (const step of result.steps.filter((st) => st.ms >= 1000))
        process.stdout.write(
          `  ${(step.ms / 1000).toFixed(1)} s  line ${step.line}: ${step.instruction.slice(0, 90)}\n`,
        );
      failed ||= problems.length > 0;
    } catch (err) {
      failed = true;
      process.stdout.write(`${app.name}: FAILED\n${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}

void main();
