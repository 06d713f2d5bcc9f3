// One jest run over every workspace package that has tests, so the totals are the repo's totals.
// Tests import workspace packages through their "@kv/source" export condition (TypeScript source),
// so no build is needed before testing.
const fs = require('node:fs');
const path = require('node:path');

const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  },
];

function projectsIn(dir) {
  const root = path.join(__dirname, dir);
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .map((name) => path.join(root, name))
    .filter((p) => fs.existsSync(path.join(p, 'test')) && fs.existsSync(path.join(p, 'package.json')))
    .map((p) => ({
      displayName: `${dir}/${path.basename(p)}`,
      rootDir: p,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testEnvironment: 'node',
      testEnvironmentOptions: { customExportConditions: ['@kv/source', 'node', 'require', 'default'] },
      transform: { '^.+\\.ts$': swc },
      moduleFileExtensions: ['ts', 'js', 'json'],
    }));
}

/** @type {import('jest').Config} */
module.exports = {
  projects: [...projectsIn('packages'), ...projectsIn('apps'), ...projectsIn('tools')],
  maxWorkers: process.env.JEST_MAX_WORKERS ?? 2,
  testTimeout: 60_000,
};
