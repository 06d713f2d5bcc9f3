import path from 'node:path';

/** The repository root (three levels above this file: tools/infra-check/src). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** `infra/` of the repository. */
export const INFRA_DIR = path.join(REPO_ROOT, 'infra');

/** Where downloaded or extracted tool binaries live (gitignored): `<repo>/.tools`. */
export const TOOLS_DIR = path.join(REPO_ROOT, '.tools');

/** The four deployable apps, with their agreed ports (brief: "Cross-service interfaces"). */
export const APPS = [
  { name: 'gateway', port: 8080 },
  { name: 'inventory', port: 3001 },
  { name: 'accounting', port: 3002 },
  { name: 'worker', port: 3003 },
] as const;

/** Name of one of {@link APPS}. */
export type AppName = (typeof APPS)[number]['name'];
