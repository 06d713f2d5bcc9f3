import type { ResponseEvent } from './client';
import type { FaultRecord } from './faults';

/** A period during which failures are attributed to an injected fault (ms since the epoch). */
export interface FaultWindow {
  from: number;
  to: number;
  label: string;
}

/**
 * The windows in which a 503 (or a client timeout/connection error) counts as caused by a fault: from the
 * injection's start to its recovery (every component ready again) plus `graceMs`. A fault that never
 * recovered keeps its window open until `openEnd`.
 */
export function faultWindows(faults: FaultRecord[], graceMs: number, openEnd: number): FaultWindow[] {
  return faults
    .filter((f) => !f.skipped)
    .map((f) => ({
      from: f.startedAt,
      to: (f.recoveredAt ?? openEnd) + graceMs,
      label: `${f.kind} ${f.target}`,
    }));
}

/** How the responses the clients got relate to the fault windows. */
export interface ResponseAnalysis {
  total: number;
  /** Count per status (`timeout` and `network` for failures without a response). */
  byStatus: Record<string, number>;
  /** Any 5xx other than 503, anywhere (never allowed). */
  non503ServerErrors: ResponseEvent[];
  /** 503s that did not overlap any fault window. */
  unexplained503: ResponseEvent[];
  /** Client timeouts and connection errors that did not overlap any fault window. */
  unexplainedFailures: ResponseEvent[];
  /** 503s, timeouts and connection errors inside fault windows (expected, safe to retry). */
  explained: number;
}

/** An attempt overlaps a window when it was in flight at some moment of it. */
function overlaps(e: ResponseEvent, windows: FaultWindow[]): boolean {
  return windows.some((w) => e.sentAt <= w.to && e.at >= w.from);
}

/** Classifies every attempt against the fault windows. */
export function analyseResponses(events: ResponseEvent[], windows: FaultWindow[]): ResponseAnalysis {
  const out: ResponseAnalysis = {
    total: events.length,
    byStatus: {},
    non503ServerErrors: [],
    unexplained503: [],
    unexplainedFailures: [],
    explained: 0,
  };
  for (const e of events) {
    const key = String(e.status);
    out.byStatus[key] = (out.byStatus[key] ?? 0) + 1;
    if (typeof e.status === 'number') {
      if (e.status >= 500 && e.status !== 503) out.non503ServerErrors.push(e);
      else if (e.status === 503) {
        if (overlaps(e, windows)) out.explained++;
        else out.unexplained503.push(e);
      }
    } else if (overlaps(e, windows)) out.explained++;
    else out.unexplainedFailures.push(e);
  }
  return out;
}

/** `t` as seconds since `t0`, one decimal (for reports). */
export function rel(t: number, t0: number): string {
  return `${((t - t0) / 1000).toFixed(1)}s`;
}

/** Lines like `500 internal POST /v1/reservations ×3 (10.9s..12.5s, e.g. chaos-…-738.1)`, most frequent first. */
export function groupEvents(events: ResponseEvent[], t0: number): string[] {
  const groups = new Map<string, { n: number; first: ResponseEvent; last: ResponseEvent }>();
  for (const e of events) {
    const k = `${e.status}${e.problem ? ` ${e.problem}` : ''} ${e.route}`;
    const g = groups.get(k);
    if (g) {
      g.n++;
      g.last = e;
    } else groups.set(k, { n: 1, first: e, last: e });
  }
  return [...groups.entries()]
    .sort((a, b) => b[1].n - a[1].n)
    .map(
      ([k, g]) =>
        `${k} ×${g.n} (${rel(g.first.sentAt, t0)}..${rel(g.last.at, t0)}, e.g. ${g.first.requestId})`,
    );
}
