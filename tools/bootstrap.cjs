#!/usr/bin/env node
// Entry point of `npm start` / `npm test` (and the pnpm equivalents) on a fresh clone with only Node 20+:
// finds or installs pnpm (the version pinned in package.json), installs the workspace if needed, then runs the
// requested command. Plain CommonJS with no dependencies, because nothing is installed yet when it runs.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const pnpmVersion = pkg.packageManager.split('@')[1];
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' };

function log(msg) {
  process.stderr.write(`[kv-erp] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function works(cmd) {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8', env });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function findPnpm() {
  if (works('pnpm') === pnpmVersion) return 'pnpm';
  const local = path.join(root, '.tools', 'pnpm', 'node_modules', '.bin', 'pnpm');
  if (fs.existsSync(local) && works(local) === pnpmVersion) return local;
  log(`installing pnpm ${pnpmVersion} into .tools/pnpm ...`);
  const status = run('npm', [
    'install',
    '--no-save',
    '--no-audit',
    '--no-fund',
    '--prefix',
    path.join(root, '.tools', 'pnpm'),
    `pnpm@${pnpmVersion}`,
  ]);
  if (status !== 0 || !fs.existsSync(local)) {
    log('could not install pnpm with npm; install it yourself: npm i -g pnpm@' + pnpmVersion);
    process.exit(1);
  }
  return local;
}

function needsInstall() {
  const marker = path.join(root, 'node_modules', '.modules.yaml');
  if (!fs.existsSync(marker)) return true;
  const lock = path.join(root, 'pnpm-lock.yaml');
  return fs.statSync(lock).mtimeMs > fs.statSync(marker).mtimeMs;
}

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  log(`Node ${process.versions.node} is too old: kv-erp needs Node 20 or newer.`);
  process.exit(1);
}

const command = process.argv[2] ?? 'start';
const pnpm = findPnpm();
env.PATH = `${path.dirname(pnpm === 'pnpm' ? process.execPath : pnpm)}${path.delimiter}${env.PATH}`;
if (needsInstall()) {
  log('installing dependencies (pnpm install --frozen-lockfile) ...');
  const status = run(pnpm, ['install', '--frozen-lockfile']);
  if (status !== 0) process.exit(status);
}

switch (command) {
  case 'start':
    process.exit(run(pnpm, ['--filter', '@kv/stack', 'start', ...process.argv.slice(3)]));
    break;
  case 'test':
    process.exit(
      run(process.execPath, [path.join(root, 'tools', 'run-tests.cjs'), ...process.argv.slice(3)]),
    );
    break;
  case 'bench':
    process.exit(run(pnpm, ['--filter', '@kv/bench', 'start', ...process.argv.slice(3)]));
    break;
  case 'chaos':
    process.exit(run(pnpm, ['--filter', '@kv/chaos', 'start', ...process.argv.slice(3)]));
    break;
  default:
    log(`unknown command ${command}`);
    process.exit(2);
}
