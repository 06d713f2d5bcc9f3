import type { Verdict } from './checks';
import type { FaultRecord } from './faults';
import { rel } from './analysis';

/** What a chaos run prints and writes as JSON. */
export interface ChaosReport {
  runId: string;
  seed: number;
  durationS: number;
  clients: number;
  tenants: number;
  gateways: number;
  replica: string;
  startedAt: string;
  /** Workload start, ms since the epoch (fault times are relative to it). */
  t0: number;
  faults: FaultRecord[];
  requests: { total: number; byStatus: Record<string, number>; perSecond: number };
  settleS: number | undefined;
  failedJobs: Record<string, number>;
  verdicts: Verdict[];
  pass: boolean;
  logDir: string;
}

/** The fault schedule as printed lines. */
export function formatFaults(faults: FaultRecord[], t0: number): string[] {
  return faults.map((f) => {
    const at = rel(f.startedAt, t0).padStart(7);
    if (f.skipped) return `${at}  ${f.kind.padEnd(15)} skipped: ${f.skipped}`;
    const rec = f.recoveredAt
      ? `recovered +${((f.recoveredAt - f.startedAt) / 1000).toFixed(1)}s`
      : 'NOT RECOVERED';
    return `${at}  ${f.kind.padEnd(15)} ${f.target.padEnd(12)} ${f.detail}; ${rec}`;
  });
}

/** The human-readable report: schedule, traffic, one PASS/FAIL line per invariant with its numbers. */
export function formatReport(r: ChaosReport): string {
  const lines = [
    '',
    `== chaos run ${r.runId}: seed ${r.seed}, ${r.durationS} s, ${r.clients} clients, ${r.tenants} tenants, ` +
      `${r.gateways} gateways, replica: ${r.replica}`,
    '',
    'faults (time after workload start):',
    ...formatFaults(r.faults, r.t0).map((l) => `  ${l}`),
    '',
    `requests: ${r.requests.total} attempts (${r.requests.perSecond.toFixed(0)}/s); by status: ` +
      Object.entries(r.requests.byStatus)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    `settled in ${r.settleS === undefined ? 'NOT SETTLED' : `${r.settleS.toFixed(1)} s`}; failed jobs: ${
      JSON.stringify(r.failedJobs) === '{}' ? 'none' : JSON.stringify(r.failedJobs)
    }`,
    '',
    'verdicts:',
  ];
  for (const v of r.verdicts) {
    lines.push(`  ${v.pass ? 'PASS' : 'FAIL'}  ${v.name} — ${v.summary}`);
    for (const d of v.details) lines.push(`          ${d}`);
  }
  const failed = r.verdicts.filter((v) => !v.pass).length;
  lines.push(
    '',
    r.pass
      ? `chaos: PASS (${r.verdicts.length} invariants)`
      : `chaos: FAIL (${failed} of ${r.verdicts.length} invariants failed; logs in ${r.logDir})`,
    '',
  );
  return lines.join('\n');
}
