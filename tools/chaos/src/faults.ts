import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { PrivateRedis } from '@kv/testing';
import type { FaultyProxy } from './proxy';
import type { Rng } from './rng';

/** The faults a run injects (one of each per round, in a seeded order). */
export const FAULT_KINDS = [
  'kill-gateway',
  'kill-service',
  'kill-worker',
  'pause-process',
  'redis-restart',
  'pg-terminate',
  'slow-network',
  'replica-outage',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One injected (or skipped) fault, with the times the 5xx analysis needs (ms since the epoch). */
export interface FaultRecord {
  kind: FaultKind;
  target: string;
  detail: string;
  /** Planned start, s after the workload began. */
  plannedAtS: number;
  startedAt: number;
  /** When the injection itself ended (SIGCONT sent, Redis started again, proxy healed). */
  endedAt: number;
  /** When every component answered its readiness check again; unset if it never did within the timeout. */
  recoveredAt?: number;
  /** Why it was not injected. */
  skipped?: string;
}

/** What the injector acts on. */
export interface FaultTargets {
  signal(name: string, signal: NodeJS.Signals): boolean;
  gateways: string[];
  /** Component name → its own readiness URL (not through nginx). */
  readyUrls: Record<string, string>;
  redis: PrivateRedis;
  /** Proxy between the gateways/worker and `slowTarget` (latency is added here). */
  slowProxy: FaultyProxy;
  slowTarget: string;
  /** Proxy in front of the streaming replica, when one is used. */
  replicaProxy: FaultyProxy | undefined;
  /** Superuser URL and the stack database (for pg_terminate_backend). */
  pgAdminUrl: string;
  database: string;
  say: (m: string) => void;
}

/** A planned fault. */
export interface PlannedFault {
  atS: number;
  kind: FaultKind;
}

/**
 * The schedule: faults spread evenly over the run after a short warm-up, in rounds that each contain every
 * kind once (shuffled with the seed), so that even the short run injects each kind.
 */
export function planSchedule(durationS: number, rng: Rng): PlannedFault[] {
  const warmupS = 4;
  const tailS = 4;
  const usable = Math.max(1, durationS - warmupS - tailS);
  const count = Math.max(FAULT_KINDS.length, Math.floor(usable / 6.5));
  const slot = usable / count;
  const kinds: FaultKind[] = [];
  while (kinds.length < count) kinds.push(...rng.shuffle(FAULT_KINDS));
  return kinds.slice(0, count).map((kind, i) => ({ atS: Math.round((warmupS + i * slot) * 10) / 10, kind }));
}

async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** Injects faults into a running stack and heals them. */
export class FaultInjector {
  private readonly paused = new Set<string>();

  constructor(
    private readonly t: FaultTargets,
    private readonly rng: Rng,
  ) {}

  /** True when every component answers its readiness check with 200. */
  async allReady(): Promise<boolean> {
    const results = await Promise.all(Object.values(this.t.readyUrls).map((u) => isReady(u)));
    return results.every(Boolean);
  }

  /** Components whose readiness check does not answer 200. */
  async notReady(): Promise<string[]> {
    const entries = Object.entries(this.t.readyUrls);
    const results = await Promise.all(entries.map(([, u]) => isReady(u)));
    return entries.filter((_, i) => !results[i]).map(([name]) => name);
  }

  /** Waits until {@link allReady}; resolves with the time it happened, or undefined after `timeoutMs`. */
  async waitRecovered(timeoutMs: number): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.allReady()) return Date.now();
      await sleep(250);
    }
    return undefined;
  }

  /** Injects one fault and waits for the end of its injection (not for recovery). */
  async inject(planned: PlannedFault): Promise<FaultRecord> {
    const startedAt = Date.now();
    const rec = (target: string, detail: string, skipped?: string): FaultRecord => ({
      kind: planned.kind,
      target,
      detail,
      plannedAtS: planned.atS,
      startedAt,
      endedAt: Date.now(),
      ...(skipped ? { skipped } : {}),
    });
    const services = ['inventory', 'accounting'];
    switch (planned.kind) {
      case 'kill-gateway': {
        const target = this.rng.pick(this.t.gateways);
        this.t.signal(target, 'SIGKILL');
        return rec(target, 'SIGKILL (the supervisor restarts it)');
      }
      case 'kill-service': {
        const target = this.rng.pick(services);
        this.t.signal(target, 'SIGKILL');
        return rec(target, 'SIGKILL (the supervisor restarts it)');
      }
      case 'kill-worker': {
        this.t.signal('worker', 'SIGKILL');
        return rec('worker', 'SIGKILL (the supervisor restarts it)');
      }
      case 'pause-process': {
        const target = this.rng.pick([...this.t.gateways, ...services, 'worker']);
        const ms = this.rng.int(2000, 5000);
        this.paused.add(target);
        this.t.signal(target, 'SIGSTOP');
        await sleep(ms);
        this.t.signal(target, 'SIGCONT');
        this.paused.delete(target);
        return rec(target, `SIGSTOP for ${ms} ms, then SIGCONT`);
      }
      case 'redis-restart': {
        const ms = this.rng.int(2000, 4000);
        await this.t.redis.kill();
        await sleep(ms);
        await this.t.redis.start();
        return rec('redis', `SIGKILL, down ${ms} ms, started again empty (no persistence)`);
      }
      case 'pg-terminate': {
        const first = await this.terminateBackends();
        await sleep(1500);
        const second = await this.terminateBackends();
        return rec(
          'postgresql',
          `pg_terminate_backend of ${first} then ${second} kv_app/kv_system backends of ${this.t.database}`,
        );
      }
      case 'slow-network': {
        const ms = this.rng.int(150, 400);
        const hold = this.rng.int(4000, 6000);
        this.t.slowProxy.setLatency(ms, 100);
        await sleep(hold);
        this.t.slowProxy.setLatency(0);
        return rec(this.t.slowTarget, `+${ms}..${ms + 100} ms per chunk each way for ${hold} ms`);
      }
      case 'replica-outage': {
        const proxy = this.t.replicaProxy;
        if (!proxy) return rec('replica', '', 'no streaming replica configured');
        const ms = this.rng.int(3000, 6000);
        proxy.setDown(true);
        await sleep(ms);
        proxy.setDown(false);
        return rec('replica', `connections reset and refused for ${ms} ms`);
      }
    }
  }

  private async terminateBackends(): Promise<number> {
    const c = new Client({ connectionString: this.t.pgAdminUrl });
    c.on('error', () => undefined);
    await c.connect();
    try {
      const r = await c.query<{ n: string }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
          WHERE datname = $1 AND usename = ANY($2::text[]) AND pid <> pg_backend_pid()`,
        [this.t.database, ['kv_app', 'kv_system']],
      );
      return Number(r.rows[0]?.n ?? 0);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /** Undoes whatever may still be in effect (used on errors and before settling). */
  async healAll(): Promise<void> {
    for (const name of this.paused) this.t.signal(name, 'SIGCONT');
    this.paused.clear();
    this.t.slowProxy.setLatency(0);
    this.t.replicaProxy?.setDown(false);
    await this.t.redis.start();
  }
}
