#!/usr/bin/env node
// Runs every jest project of the workspace once and ends with the one line CI reads:
// `tests: N passed, M failed` (a test file that cannot even run counts as one failure).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(os.tmpdir(), `kv-jest-${process.pid}.json`);
const jest = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js');
const args = [
  jest,
  '--json',
  `--outputFile=${out}`,
  ...(process.env.CI ? ['--ci'] : []),
  ...process.argv.slice(2),
];
const r = spawnSync(process.execPath, args, {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
});

let passed = 0;
let failed = 0;
try {
  const report = JSON.parse(fs.readFileSync(out, 'utf8'));
  passed = report.numPassedTests;
  failed = report.numFailedTests + report.numRuntimeErrorTestSuites;
  fs.rmSync(out, { force: true });
} catch {
  failed = Math.max(failed, 1);
}
if (r.status !== 0 && failed === 0) failed = 1;
process.stdout.write(`tests: ${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 && r.status === 0 ? 0 : 1);
