/**
 * Summarizes the V8 CPU profiles `BENCH_PROFILE_DIR` collected: for each app process, where its CPU time went,
 * by package (node_modules/<pkg>, the app's own code, Node internals, GC, idle) and the top functions by self
 * time. Run: `pnpm --filter @kv/bench exec tsx src/profile-summary.ts <dir> [top]`.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Which bucket a frame's CPU time belongs to. */
export function bucketOf(url: string, fn: string): string {
  if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn;
  if (!url) return '(native)';
  const nm = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const app = /\/(apps|packages)\/([^/]+)\//.exec(url);
  if (app) return `${app[1]}/${app[2]}`;
  return url;
}

/** Self time (ms) by bucket and by function for one profile. */
export function summarize(p: Profile): {
  totalMs: number;
  buckets: Map<string, number>;
  functions: Map<string, number>;
} {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000));
  const buckets = new Map<string, number>();
  const functions = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const b = bucketOf(url, functionName);
    buckets.set(b, (buckets.get(b) ?? 0) + ms);
    if (b !== '(idle)') {
      totalMs += ms;
      const key = `${functionName || '(anonymous)'} ${b}${url ? `:${lineNumber + 1}` : ''}`;
      functions.set(key, (functions.get(key) ?? 0) + ms);
    }
  }
  return { totalMs, buckets, functions };
}

function main(): void {
  const dir = process.argv[2];
  const top = Number(process.argv[3] ?? 12);
  if (!dir) throw new Error('usage: profile-summary <dir> [top]');
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !f.includes('migrate'))) {
    const s = summarize(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Profile);
    const sorted = (m: Map<string, number>) =>
      [...m].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]);
    process.stdout.write(`\n== ${file}: ${(s.totalMs / 1000).toFixed(1)} s busy\n`);
    for (const [k, ms] of sorted(s.buckets).slice(0, top)) {
      process.stdout.write(`  ${((ms / s.totalMs) * 100).toFixed(1).padStart(5)} %  ${k}\n`);
    }
    process.stdout.write('  top functions (self time):\n');
    for (const [k, ms] of sorted(s.functions).slice(0, top)) {
      process.stdout.write(`  ${((ms / s.totalMs) * 100).toFixed(1).padStart(5)} %  ${k}\n`);
    }
  }
}

if (require.main === module) main();
