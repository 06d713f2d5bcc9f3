import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** A group of processes measured together (e.g. nginx master + workers, the bench database's backends). */
export interface ProcGroup {
  name: string;
  /** The pids in the group right now (called at every sample, so restarts and new backends are followed). */
  pids: () => number[];
}

/** CPU and memory of one group over a phase. */
export interface ProcUsage {
  name: string;
  /** CPU time / wall time, in % of one core (200 % = both cores of this machine). */
  cpuPct: number;
  /** Largest resident set of the group seen, MiB (private memory summed, shared memory counted once). */
  rssMaxMiB: number;
  /** Processes in the group at the end. */
  count: number;
}

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, normally 100). */
export function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * utime + stime (ticks), RSS and its shared-memory part (KiB) of a pid, from /proc/<pid>/stat and status;
 * undefined when it is gone.
 */
export function readProc(pid: number): { ticks: number; rssKiB: number; shmemKiB: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after its closing parenthesis are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    const shm = /^RssShmem:\s+(\d+)\s+kB/m.exec(status);
    return { ticks, rssKiB: m ? Number(m[1]) : 0, shmemKiB: shm ? Number(shm[1]) : 0 };
  } catch {
    return undefined;
  }
}

/** Every pid on the machine with its parent pid and command line. */
export function listProcs(): { pid: number; ppid: number; cmdline: string }[] {
  const out: { pid: number; ppid: number; cmdline: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(entry), ppid: Number(rest[1]), cmdline });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** A pid and its descendants. */
export function withChildren(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  const all = listProcs();
  const result = [pid];
  for (let i = 0; i < result.length; i++) {
    for (const p of all) if (p.ppid === result[i]) result.push(p.pid);
  }
  return result;
}

/**
 * Samples CPU and RSS of groups every `intervalMs` between start() and stop(). CPU is the tick difference
 * per pid (a pid that appears mid-phase counts from its first sample).
 */
export class ProcSampler {
  private timer: NodeJS.Timeout | undefined;
  private first = new Map<string, Map<number, number>>();
  private last = new Map<string, Map<number, number>>();
  private rssMax = new Map<string, number>();
  private counts = new Map<string, number>();
  private startedAt = 0;

  constructor(
    private readonly groups: ProcGroup[],
    private readonly intervalMs = 500,
  ) {}

  private sample(): void {
    for (const g of this.groups) {
      // Shared memory (PostgreSQL's shared buffers) shows in every backend's RSS: count it once per group.
      let rss = 0;
      let shmem = 0;
      const pids = g.pids();
      const first = this.first.get(g.name) ?? new Map<number, number>();
      const last = this.last.get(g.name) ?? new Map<number, number>();
      for (const pid of pids) {
        const p = readProc(pid);
        if (!p) continue;
        if (!first.has(pid)) first.set(pid, p.ticks);
        last.set(pid, p.ticks);
        rss += p.rssKiB - p.shmemKiB;
        shmem = Math.max(shmem, p.shmemKiB);
      }
      rss += shmem;
      this.first.set(g.name, first);
      this.last.set(g.name, last);
      this.counts.set(g.name, pids.length);
      this.rssMax.set(g.name, Math.max(this.rssMax.get(g.name) ?? 0, rss));
    }
  }

  start(): void {
    if (this.timer) clearInterval(this.timer);
    this.first.clear();
    this.last.clear();
    this.rssMax.clear();
    this.startedAt = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  /** Stops sampling and returns the usage of every group over the phase (zeros if it never started). */
  stop(): ProcUsage[] {
    if (!this.startedAt) return this.groups.map((g) => ({ name: g.name, cpuPct: 0, rssMaxMiB: 0, count: 0 }));
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const wallS = Math.max(0.001, (Date.now() - this.startedAt) / 1000);
    return this.groups.map((g) => {
      const first = this.first.get(g.name) ?? new Map<number, number>();
      const last = this.last.get(g.name) ?? new Map<number, number>();
      let ticks = 0;
      for (const [pid, t] of last) ticks += t - (first.get(pid) ?? t);
      return {
        name: g.name,
        cpuPct: (ticks / clkTck() / wallS) * 100,
        rssMaxMiB: (this.rssMax.get(g.name) ?? 0) / 1024,
        count: this.counts.get(g.name) ?? 0,
      };
    });
  }
}
