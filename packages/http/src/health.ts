import type { Request, Response, Router } from 'express';
import express from 'express';

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** What one check returns. `detail` must be safe to show publicly (no credentials, no stack). */
export interface CheckResult {
  status: HealthStatus;
  detail?: string;
}

export interface HealthCheck {
  /**
   * Runs the check. Throwing or timing out counts as failing: `unhealthy` if `critical`, else `degraded`.
   */
  run: () => Promise<CheckResult | void>;
  /** A failing critical check makes the whole service unhealthy (503). Default true. */
  critical?: boolean;
}

export interface CheckReport {
  status: HealthStatus;
  latency_ms: number;
  detail?: string;
}

export interface ReadinessReport {
  status: HealthStatus;
  checks: Record<string, CheckReport>;
}

export interface HealthOptions {
  checks: Record<string, HealthCheck>;
  /** Per-check timeout in ms; default 2000. */
  timeoutMs?: number;
  /** While true (set during graceful shutdown), readiness answers unhealthy so balancers stop sending. */
  isShuttingDown?: () => boolean;
}

const rank: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

async function runOne(check: HealthCheck, timeoutMs: number): Promise<CheckReport> {
  const start = performance.now();
  const failed: HealthStatus = check.critical === false ? 'degraded' : 'unhealthy';
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      check.run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    const status = result?.status ?? 'healthy';
    const report: CheckReport = {
      status: status === 'unhealthy' ? failed : status,
      latency_ms: Math.round(performance.now() - start),
    };
    if (result?.detail) report.detail = result.detail;
    return report;
  } catch (err) {
    return {
      status: failed,
      latency_ms: Math.round(performance.now() - start),
      detail: err instanceof Error ? err.message.slice(0, 200) : 'check failed',
    };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Runs every check in parallel; the overall status is the worst. */
export async function checkReadiness(options: HealthOptions): Promise<ReadinessReport> {
  const names = Object.keys(options.checks);
  const reports = await Promise.all(names.map((n) => runOne(options.checks[n]!, options.timeoutMs ?? 2000)));
  const checks: Record<string, CheckReport> = {};
  let status: HealthStatus = 'healthy';
  names.forEach((n, i) => {
    const r = reports[i]!;
    checks[n] = r;
    if (rank[r.status] > rank[status]) status = r.status;
  });
  if (options.isShuttingDown?.()) {
    status = 'unhealthy';
    checks.shutdown = { status: 'unhealthy', latency_ms: 0, detail: 'shutting down' };
  }
  return { status, checks };
}

/** `GET /health/live` (200 while the process runs) and `GET /health/ready` (200 healthy/degraded, 503 unhealthy). */
export function healthRouter(options: HealthOptions): Router {
  const router = express.Router();
  router.get('/health/live', (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  });
  router.get('/health/ready', async (_req: Request, res: Response) => {
    const report = await checkReadiness(options);
    res.status(report.status === 'unhealthy' ? 503 : 200).json(report);
  });
  return router;
}
