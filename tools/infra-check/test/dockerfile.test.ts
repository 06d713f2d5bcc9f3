import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { APPS, REPO_ROOT } from '../src';
import {
  expandVars,
  loadDockerIgnore,
  parseDockerfile,
  parseExecForm,
  parseKeyValues,
  splitFlags,
} from '../src/dockerfile';

describe('Dockerfile parsing for the dry run', () => {
  it('joins continuations, drops comments and directives, keeps line numbers', () => {
    const ins = parseDockerfile(
      '# syntax=docker/dockerfile:1.7\nARG A=1\n\nFROM node:20 AS base\nRUN echo a \\\n  && echo b\n# c\nCMD ["node", "x.js"]\n',
    );
    expect(ins.map((i) => [i.keyword, i.line])).toEqual([
      ['ARG', 2],
      ['FROM', 4],
      ['RUN', 5],
      ['CMD', 8],
    ]);
    expect(ins[2]!.args).toBe('echo a    && echo b');
    expect(parseExecForm(ins[3]!.args)).toEqual(['node', 'x.js']);
  });

  it('expands build args and splits flags and key=value pairs', () => {
    expect(expandVars('FROM ${IMG} $X ${Y:-def}', { IMG: 'node:20', X: 'x' })).toBe('FROM node:20 x def');
    expect(splitFlags('--mount=type=cache,target=/s --from=build pnpm i')).toEqual({
      flags: { mount: 'type=cache,target=/s', from: 'build' },
      rest: 'pnpm i',
    });
    expect(parseKeyValues('A=1 B="two words" C=')).toEqual({ A: '1', B: 'two words', C: '' });
  });

  it('applies .dockerignore like Docker: ** globs, last match wins, ! re-includes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-ignore-'));
    fs.writeFileSync(path.join(dir, '.dockerignore'), '**/node_modules\n*.log\n!keep.log\n.git\n');
    const ignore = loadDockerIgnore(dir);
    expect(ignore.ignored('node_modules')).toBe(true);
    expect(ignore.ignored('apps/x/node_modules')).toBe(true);
    expect(ignore.ignored('a.log')).toBe(true);
    expect(ignore.ignored('keep.log')).toBe(false);
    expect(ignore.ignored('apps/x/src/a.ts')).toBe(false);
    expect(ignore.ignored('.git')).toBe(true);
    fs.rmSync(dir, { recursive: true });
  });

  it("keeps the repository's build context free of installs, builds and local state", () => {
    const ignore = loadDockerIgnore(REPO_ROOT);
    for (const p of [
      'node_modules',
      'apps/gateway/node_modules',
      'apps/gateway/dist',
      '.git',
      '.tools',
      '.kv-data',
    ])
      expect({ p, ignored: ignore.ignored(p) }).toEqual({ p, ignored: true });
    for (const p of [
      'pnpm-lock.yaml',
      'tsconfig.base.json',
      'apps/gateway/src/main.ts',
      'apps/gateway/.env.example',
    ])
      expect({ p, ignored: ignore.ignored(p) }).toEqual({ p, ignored: false });
  });

  it.each(APPS.map((a) => [a.name, a.port] as const))(
    'apps/%s/Dockerfile prunes, builds and deploys its own app, non-root, with a health check',
    (name, port) => {
      const ins = parseDockerfile(fs.readFileSync(path.join(REPO_ROOT, 'apps', name, 'Dockerfile'), 'utf8'));
      const text = ins.map((i) => `${i.keyword} ${i.args}`).join('\n');
      expect(text).toContain(`RUN turbo prune @kv/${name} --docker`);
      expect(text).toContain('pnpm install --frozen-lockfile');
      expect(text).toContain(`RUN turbo run build --filter=@kv/${name}`);
      expect(text).toContain(`pnpm deploy --prod --filter=@kv/${name} deploy`);
      expect(text).toContain('pnpm@12.4.2 turbo@2.11.11');
      expect(text).toContain('TURBO_TELEMETRY_DISABLED=1');
      expect(text).toMatch(/^ARG NODE_IMAGE=node:\d+\.\d+\.\d+-bookworm-slim$/m);
      expect(text).toContain(`ENV NODE_ENV=production PORT=${port}`);
      expect(text).toContain('USER node');
      expect(text).toMatch(/HEALTHCHECK .*\/health\/live/);
      expect(ins.at(-1)).toMatchObject({ keyword: 'CMD', args: '["node", "dist/main.js"]' });
    },
  );
});
