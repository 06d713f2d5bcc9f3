import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../src';
import { ensureK8sTools } from '../src/k8s-tools';

// Every shell command in docs/deployment.md is run here, or (when it needs a Docker engine or a cluster,
// which CI does not have) checked against what the other tests run. A command with no handler fails the
// test, so the page cannot grow commands nobody runs.

const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'deployment.md'), 'utf8');
const commands = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
  m[1]!
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#')),
);

/** Splits `A=1 B=2 cmd args` into env assignments and argv (no quoting is used on the page). */
function split(command: string): { env: Record<string, string>; argv: string[] } {
  const words = command.split(/\s+/);
  const env: Record<string, string> = {};
  while (words[0] && /^[A-Z_]+=/.test(words[0])) {
    const w = words.shift()!;
    env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  }
  return { env, argv: words };
}

function run(argv: string[], env: Record<string, string> = {}) {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: '/nonexistent', ...env },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const existing = (p: string) => fs.existsSync(path.join(REPO_ROOT, p));

describe('docs/deployment.md', () => {
  it('has commands to check', () => {
    expect(commands.length).toBeGreaterThanOrEqual(8);
  });

  it.each(commands.map((c) => [c]))('%s', (command) => {
    const { env, argv } = split(command);
    const [cmd, sub] = argv;
    if (cmd === 'helm') {
      const helm = ensureK8sTools().helm;
      if (sub === 'upgrade') {
        // No cluster: the same chart, values and flags as a client-side dry-run install.
        const args = argv.slice(2).filter((a) => a !== '--install');
        const r = run([helm, 'install', ...args, '--dry-run=client']);
        expect(r.output).toContain('Dry run complete');
        expect(r.status).toBe(0);
        return;
      }
      expect(['lint', 'template']).toContain(sub);
      const r = run([helm, ...argv.slice(1)]);
      expect({ command, status: r.status, output: r.status === 0 ? '' : r.output }).toEqual({
        command,
        status: 0,
        output: '',
      });
      return;
    }
    if (cmd === 'node' || cmd === 'nginx') {
      const r = run(argv, env);
      expect({ command, status: r.status, output: r.status === 0 ? '' : r.output }).toEqual({
        command,
        status: 0,
        output: '',
      });
      return;
    }
    if (cmd === 'docker') {
      // Needs a Docker engine: the files it names must exist; compose.test.ts validates the compose file
      // and images.int.test.ts executes each Dockerfile's steps.
      const files = argv.filter((_a, i) => argv[i - 1] === '-f' || argv[i - 1] === '--env-file');
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) expect(existing(f) || existing(`${f}.example`)).toBe(true);
      expect(['build', 'compose']).toContain(sub);
      return;
    }
    if (cmd === 'cp') {
      expect(existing(argv[1]!)).toBe(true);
      return;
    }
    if (cmd === 'pnpm') {
      // Run by images.int.test.ts through the same functions; here: the script exists.
      const pkg = JSON.parse(
        fs.readFileSync(path.join(REPO_ROOT, 'tools', 'infra-check', 'package.json'), 'utf8'),
      ) as {
        name: string;
        scripts: Record<string, string>;
      };
      expect(argv.slice(1, 3)).toEqual(['--filter', pkg.name]);
      expect(pkg.scripts[argv[3]!]).toBeTruthy();
      return;
    }
    if (cmd === 'npx' && sub === 'jest') {
      // This very suite.
      expect(argv[2]).toBe('tools/infra-check');
      return;
    }
    throw new Error(`no check for this documented command: ${command}`);
  });
});
