import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  expandVars,
  loadDockerIgnore,
  parseDockerfile,
  parseExecForm,
  parseKeyValues,
  splitFlags,
  type Instruction,
} from './dockerfile';
import { REPO_ROOT } from './paths';

/**
 * Runs a Dockerfile's steps without a Docker engine: each stage gets a folder that stands for its root
 * filesystem; WORKDIR and COPY paths are mapped into it; RUN lines run with `sh -c` in the mapped WORKDIR,
 * with the stage's ENV, `npm install --global` redirected into the stage (`<root>/usr/local`), and the
 * host's node/npm standing in for the base image's (checked to be the same major version). `--mount`
 * flags are dropped; the host's pnpm store plays the cache mount. What this cannot check: the base image
 * itself and OS packages (the Dockerfiles install none).
 *
 * Supported: ARG, FROM [AS], ENV, WORKDIR, COPY [--from] (context copies honour .dockerignore), RUN,
 * USER, EXPOSE, HEALTHCHECK, CMD, LABEL. Anything else throws, so a Dockerfile cannot drift into steps
 * the dry run silently skips.
 */

/** A stage as the dry run left it. */
export interface DryRunStage {
  name: string | undefined;
  /** The image or stage it starts from. */
  from: string;
  /** Folder standing for the stage's `/`. */
  root: string;
  /** Current WORKDIR (container path). */
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  cmd: string[] | undefined;
  healthcheck: string[] | undefined;
  expose: number[];
}

/** Timing of one instruction. */
export interface DryRunStep {
  line: number;
  instruction: string;
  ms: number;
  cached: boolean;
}

/** Result of {@link dryRunDockerfile}. */
export interface DryRunResult {
  workDir: string;
  stages: DryRunStage[];
  /** The last stage: what `docker build` would tag. */
  final: DryRunStage;
  /** `final.root` + `final.workdir`: where CMD runs. */
  appDir: string;
  steps: DryRunStep[];
  totalMs: number;
}

/** Options of {@link dryRunDockerfile}. */
export interface DryRunOptions {
  /** Path of the Dockerfile. */
  dockerfile: string;
  /** Build context. Default: the repository root. */
  contextDir?: string;
  /** Folder to build in (created). Default: a new temp folder. */
  workDir?: string;
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /**
   * Stage roots keyed by a hash of their instructions, reused when a stage has no COPY (like Docker's
   * layer cache for the shared `base` stage). Pass the same Map to several runs to share it.
   */
  stageCache?: Map<string, string>;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
  /** Milliseconds one RUN may take. Default 600000. */
  runTimeoutMs?: number;
}

/** Commands a Node base image provides; anything else a RUN starts must have been installed by the Dockerfile. */
const IMAGE_COMMANDS = new Set([
  'node',
  'npm',
  'npx',
  'corepack',
  'sh',
  'set',
  'cd',
  'mkdir',
  'rm',
  'cp',
  'test',
]);

function hostNodeMajor(): number {
  return Number(process.versions.node.split('.')[0]);
}

function checkBaseImage(image: string): void {
  const m = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)/.exec(image);
  if (!m) throw new Error(`dry run only stands in for node images, not ${image}`);
  if (Number(m[1]) !== hostNodeMajor())
    throw new Error(`${image} is Node ${m[1]} but the dry run has Node ${process.versions.node}`);
}

function toHost(stage: DryRunStage, containerPath: string): string {
  const abs = path.posix.isAbsolute(containerPath)
    ? containerPath
    : path.posix.join(stage.workdir, containerPath);
  return path.join(stage.root, ...path.posix.normalize(abs).split('/').filter(Boolean));
}

function copyInto(src: string, dest: string, destIsDir: boolean, filter?: (p: string) => boolean): void {
  if (!fs.existsSync(src)) throw new Error(`COPY source does not exist: ${src}`);
  if (fs.statSync(src).isDirectory()) {
    fs.mkdirSync(dest, { recursive: true });
    for (const entry of fs.readdirSync(src)) {
      const from = path.join(src, entry);
      if (filter && !filter(from)) continue;
      fs.cpSync(from, path.join(dest, entry), { recursive: true, verbatimSymlinks: true, filter });
    }
  } else {
    const target = destIsDir ? path.join(dest, path.basename(src)) : dest;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(src, target);
  }
}

let hostGlobalNpmrc: string | undefined;

/**
 * The host's global npmrc: redirecting the npm prefix into the stage would also move npm's global config
 * (`<prefix>/etc/npmrc`), losing settings such as the registry CA that the host's npm needs.
 */
function hostGlobalConfig(): string {
  hostGlobalNpmrc ??= spawnSync('npm', ['config', 'get', 'globalconfig'], { encoding: 'utf8' }).stdout.trim();
  return hostGlobalNpmrc;
}

function runEnv(stage: DryRunStage, hostBin: string): NodeJS.ProcessEnv {
  const localBin = path.join(stage.root, 'usr', 'local', 'bin');
  const imagePath = (stage.env.PATH ?? '')
    .split(':')
    .filter((p) => p && p !== '$PATH' && !p.startsWith('/usr/local/bin'))
    .map((p) => (path.isAbsolute(p) ? toHost(stage, p) : p));
  const { PATH: _path, ...env } = stage.env;
  return {
    HOME: os.homedir(),
    LANG: 'C.UTF-8',
    ...env,
    npm_config_prefix: path.join(stage.root, 'usr', 'local'),
    npm_config_globalconfig: hostGlobalConfig(),
    npm_config_update_notifier: 'false',
    PATH: [localBin, ...imagePath, hostBin, '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'),
  };
}

/** Folder with node/npm/npx/corepack links only: the Node image's own tools, not the host's globals. */
function makeHostBin(workDir: string): string {
  const dir = path.join(workDir, 'image-bin');
  fs.mkdirSync(dir, { recursive: true });
  const nodeDir = path.dirname(process.execPath);
  for (const tool of ['node', 'npm', 'npx', 'corepack']) {
    const target = path.join(nodeDir, tool);
    if (fs.existsSync(target) && !fs.existsSync(path.join(dir, tool)))
      fs.symlinkSync(target, path.join(dir, tool));
  }
  return dir;
}

function firstCommand(shell: string): string {
  const m = /^\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*([^\s;&|]+)/.exec(shell);
  return m?.[1] ?? '';
}

function runCommand(
  argv: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    };
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/**
 * Executes the Dockerfile's stages in `workDir`. Throws (with the failing line and the command's output)
 * when a step fails or uses an instruction the dry run does not model.
 */
export async function dryRunDockerfile(options: DryRunOptions): Promise<DryRunResult> {
  const started = Date.now();
  const contextDir = options.contextDir ?? REPO_ROOT;
  const workDir = options.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kv-image-'));
  fs.mkdirSync(workDir, { recursive: true });
  const log = options.log ?? (() => undefined);
  const hostBin = makeHostBin(workDir);
  const ignore = loadDockerIgnore(contextDir);
  const instructions = parseDockerfile(fs.readFileSync(options.dockerfile, 'utf8'));
  const globalArgs: Record<string, string> = {};
  const stages: DryRunStage[] = [];
  const steps: DryRunStep[] = [];
  let stage: DryRunStage | undefined;
  let stageArgs: Record<string, string> = {};
  let stageKey = '';
  let stageCacheable = true;

  const where = (ins: Instruction) => `${path.basename(options.dockerfile)}:${ins.line} ${ins.keyword}`;
  const finishStage = () => {
    if (stage && stageCacheable && options.stageCache && !options.stageCache.has(stageKey))
      options.stageCache.set(stageKey, stage.root);
  };

  // A stage made only of RUN/ENV/WORKDIR/ARG (no COPY) is cached under the hash of its instructions.
  const stageInstructions = (fromIndex: number): Instruction[] => {
    const out: Instruction[] = [];
    for (let i = fromIndex + 1; i < instructions.length && instructions[i]!.keyword !== 'FROM'; i++)
      out.push(instructions[i]!);
    return out;
  };

  for (let idx = 0; idx < instructions.length; idx++) {
    const ins = instructions[idx]!;
    const t0 = Date.now();
    const vars = { ...globalArgs, ...(stage?.env ?? {}), ...stageArgs };
    switch (ins.keyword) {
      case 'ARG': {
        const [name, def] = ins.args.split('=', 2) as [string, string | undefined];
        const value =
          options.buildArgs?.[name] ?? (def !== undefined ? expandVars(def, vars) : (globalArgs[name] ?? ''));
        if (stage) stageArgs[name] = value;
        else globalArgs[name] = value;
        break;
      }
      case 'FROM': {
        finishStage();
        const { rest } = splitFlags(ins.args);
        const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(expandVars(rest, globalArgs));
        if (!m) throw new Error(`${where(ins)}: cannot parse`);
        const from = m[1]!;
        const parent = stages.find((s) => s.name?.toLowerCase() === from.toLowerCase());
        const name = m[2];
        const root = path.join(workDir, 'stages', `${stages.length}-${name ?? 'unnamed'}`);
        const body = stageInstructions(idx);
        stageCacheable = body.every((i) => i.keyword !== 'COPY');
        stageKey = createHash('sha256')
          .update(
            JSON.stringify([
              parent ? `stage:${parent.from}:${parent.root}` : from,
              body,
              options.buildArgs ?? {},
            ]),
          )
          .digest('hex');
        const hit = stageCacheable ? options.stageCache?.get(stageKey) : undefined;
        if (parent) fs.cpSync(parent.root, root, { recursive: true, verbatimSymlinks: true });
        else {
          checkBaseImage(from);
          fs.mkdirSync(root, { recursive: true });
        }
        stage = {
          name,
          from,
          root,
          workdir: parent?.workdir ?? '/',
          env: { ...(parent?.env ?? {}) },
          user: parent?.user,
          cmd: parent?.cmd,
          healthcheck: parent?.healthcheck,
          expose: [...(parent?.expose ?? [])],
        };
        stageArgs = {};
        stages.push(stage);
        if (hit && fs.existsSync(hit)) {
          // Replay only the metadata of the cached stage; its filesystem is copied as a whole.
          fs.rmSync(root, { recursive: true, force: true });
          fs.cpSync(hit, root, { recursive: true, verbatimSymlinks: true });
          for (const b of body) {
            if (b.keyword === 'ENV')
              Object.assign(stage.env, parseKeyValues(expandVars(b.args, { ...globalArgs, ...stage.env })));
            if (b.keyword === 'WORKDIR')
              stage.workdir = path.posix.resolve(stage.workdir, expandVars(b.args, stage.env));
          }
          steps.push({
            line: ins.line,
            instruction: `${ins.keyword} ${ins.args}`,
            ms: Date.now() - t0,
            cached: true,
          });
          idx += body.length;
          log(`${where(ins)} ${ins.args} (cached stage)`);
          continue;
        }
        break;
      }
      case 'ENV':
      case 'WORKDIR':
      case 'COPY':
      case 'RUN':
      case 'USER':
      case 'EXPOSE':
      case 'HEALTHCHECK':
      case 'CMD':
      case 'LABEL': {
        if (!stage) throw new Error(`${where(ins)} before FROM`);
        if (ins.keyword === 'ENV') Object.assign(stage.env, parseKeyValues(expandVars(ins.args, vars)));
        else if (ins.keyword === 'WORKDIR') {
          stage.workdir = path.posix.resolve(stage.workdir, expandVars(ins.args, vars));
          fs.mkdirSync(toHost(stage, stage.workdir), { recursive: true });
        } else if (ins.keyword === 'USER') stage.user = expandVars(ins.args, vars);
        else if (ins.keyword === 'EXPOSE')
          stage.expose.push(...ins.args.split(/\s+/).map((p) => Number.parseInt(p, 10)));
        else if (ins.keyword === 'CMD') {
          const exec = parseExecForm(ins.args);
          if (!exec) throw new Error(`${where(ins)}: use the exec form (JSON array) so signals reach node`);
          stage.cmd = exec;
        } else if (ins.keyword === 'HEALTHCHECK') {
          const { rest } = splitFlags(ins.args);
          const cmd = /^CMD\s+([\s\S]+)$/.exec(rest);
          if (!cmd) throw new Error(`${where(ins)}: expected HEALTHCHECK [options] CMD [...]`);
          stage.healthcheck = parseExecForm(cmd[1]!) ?? ['sh', '-c', cmd[1]!];
        } else if (ins.keyword === 'COPY') {
          const { flags, rest } = splitFlags(ins.args);
          const parts = (parseExecForm(rest) ?? rest.split(/\s+/)).map((p) => expandVars(p, vars));
          const dest = parts.pop()!;
          if (parts.length === 0) throw new Error(`${where(ins)}: COPY needs a source and a destination`);
          if (parts.some((p) => /[*?[]/.test(p)))
            throw new Error(`${where(ins)}: wildcards are not modelled`);
          const destIsDir = dest.endsWith('/') || dest === '.' || parts.length > 1;
          const destHost = toHost(stage, dest);
          for (const src of parts) {
            if (flags.from) {
              const fromStage = stages.find((s) => s.name === flags.from);
              if (!fromStage) throw new Error(`${where(ins)}: --from=${flags.from} is not an earlier stage`);
              copyInto(toHost({ ...fromStage, workdir: '/' }, src), destHost, destIsDir);
            } else {
              const srcHost = path.resolve(contextDir, src);
              if (path.relative(contextDir, srcHost).startsWith('..'))
                throw new Error(`${where(ins)}: ${src} is outside the build context`);
              copyInto(srcHost, destHost, destIsDir, (p) => {
                const rel = path.relative(contextDir, p);
                return rel === '' || !ignore.ignored(rel);
              });
            }
          }
        } else if (ins.keyword === 'RUN') {
          const { rest } = splitFlags(ins.args);
          const exec = parseExecForm(rest);
          const argv = exec ?? ['sh', '-c', rest];
          const cmd = exec ? exec[0]! : firstCommand(rest);
          const env = runEnv(stage, hostBin);
          if (!IMAGE_COMMANDS.has(cmd) && !fs.existsSync(path.join(stage.root, 'usr', 'local', 'bin', cmd)))
            throw new Error(
              `${where(ins)}: "${cmd}" is neither in the Node image nor installed by an earlier step`,
            );
          if (/(^|\s)\/(?!dev\/null)/.test(rest))
            throw new Error(
              `${where(ins)}: absolute paths in RUN are not mapped by the dry run; use paths relative to WORKDIR`,
            );
          log(`${where(ins)} ${rest}`);
          const r = await runCommand(
            argv,
            toHost(stage, stage.workdir),
            env,
            options.runTimeoutMs ?? 600_000,
          );
          if (r.code !== 0) throw new Error(`${where(ins)} failed (exit ${r.code}): ${rest}\n${r.output}`);
        }
        break;
      }
      default:
        throw new Error(`${where(ins)}: instruction not modelled by the dry run`);
    }
    steps.push({
      line: ins.line,
      instruction: `${ins.keyword} ${ins.args}`,
      ms: Date.now() - t0,
      cached: false,
    });
  }
  finishStage();
  if (!stage) throw new Error('Dockerfile has no FROM');
  return {
    workDir,
    stages,
    final: stage,
    appDir: toHost(stage, stage.workdir),
    steps,
    totalMs: Date.now() - started,
  };
}

/** Files in `dir` (recursive) ending in `.js`, as paths relative to `dir`. */
function jsFiles(dir: string, rel = ''): string[] {
  if (!fs.existsSync(path.join(dir, rel))) return [];
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) return jsFiles(dir, r);
    return e.name.endsWith('.js') ? [r] : [];
  });
}

/**
 * Checks what a built app image holds, without starting it: non-root USER, `CMD ["node","dist/main.js"]`,
 * a HEALTHCHECK on /health/live, NODE_ENV=production, dist/main.js and dist/migrate-main.js present,
 * every production dependency resolvable from the app folder and no devDependency, and every compiled
 * module except the two entry points loadable (`require`) in a fresh node. Returns the problems found
 * (empty = fine).
 */
export function inspectAppImage(result: DryRunResult): string[] {
  const problems: string[] = [];
  const { final, appDir } = result;
  if (!final.user || final.user === 'root' || final.user.startsWith('0'))
    problems.push(`runs as root (USER ${final.user ?? 'unset'})`);
  if (JSON.stringify(final.cmd) !== JSON.stringify(['node', 'dist/main.js']))
    problems.push(`CMD is ${JSON.stringify(final.cmd)}, expected ["node","dist/main.js"]`);
  if (!final.healthcheck?.join(' ').includes('/health/live')) problems.push('no HEALTHCHECK on /health/live');
  if (final.env.NODE_ENV !== 'production') problems.push('NODE_ENV is not production');
  for (const f of ['dist/main.js', 'dist/migrate-main.js', 'package.json'])
    if (!fs.existsSync(path.join(appDir, f))) problems.push(`missing ${f}`);
  if (problems.length) return problems;

  const pkg = JSON.parse(fs.readFileSync(path.join(appDir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const modules = jsFiles(path.join(appDir, 'dist'))
    .filter((f) => f !== 'main.js' && f !== 'migrate-main.js')
    .map((f) => `./dist/${f.split(path.sep).join('/')}`);
  const script = `
    const problems = [];
    const can = (m) => { try { require.resolve(m); return true; } catch { return false; } };
    for (const d of ${JSON.stringify(Object.keys(pkg.dependencies ?? {}))})
      if (!can(d)) problems.push('production dependency ' + d + ' is not installed');
    for (const d of ${JSON.stringify(Object.keys(pkg.devDependencies ?? {}).filter((d) => !d.startsWith('@types/')))})
      if (can(d)) problems.push('devDependency ' + d + ' is in the image');
    for (const m of ${JSON.stringify(modules)}) {
      try { require(m); } catch (e) { problems.push('cannot load ' + m + ': ' + (e && e.message)); }
    }
    process.stdout.write(JSON.stringify(problems));
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: appDir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, NODE_ENV: 'production' },
  });
  if (r.status !== 0) problems.push(`module check failed (${r.status}): ${r.stderr}`);
  else problems.push(...(JSON.parse(r.stdout) as string[]));
  if (fs.existsSync(path.join(appDir, 'node_modules', '@types')))
    problems.push('node_modules/@types is in the image');
  return problems;
}
