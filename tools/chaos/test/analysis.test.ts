import { analyseResponses, faultWindows, groupEvents } from '../src/analysis';
import type { ResponseEvent } from '../src/client';
import type { FaultRecord } from '../src/faults';

const fault = (startedAt: number, recoveredAt: number | undefined, skipped?: string): FaultRecord => ({
  kind: 'kill-gateway',
  target: 'gateway-1',
  detail: '',
  plannedAtS: 0,
  startedAt,
  endedAt: startedAt,
  ...(recoveredAt === undefined ? {} : { recoveredAt }),
  ...(skipped ? { skipped } : {}),
});

const event = (sentAt: number, at: number, status: ResponseEvent['status']): ResponseEvent => ({
  sentAt,
  at,
  status,
  method: 'POST',
  route: 'POST /v1/reservations',
  attempt: 1,
  requestId: `r-${sentAt}`,
});

describe('faultWindows', () => {
  it('spans from the injection to the recovery plus the grace, skipping skipped faults', () => {
    const w = faultWindows(
      [fault(1000, 3000), fault(5000, undefined), fault(9000, 9500, 'no replica')],
      500,
      8000,
    );
    expect(w.map(({ from, to }) => [from, to])).toEqual([
      [1000, 3500],
      [5000, 8500],
    ]);
  });
});

describe('analyseResponses', () => {
  const windows = faultWindows([fault(1000, 2000)], 1000, 10_000);

  it('accepts 503s, timeouts and connection errors that overlap a fault window', () => {
    const a = analyseResponses(
      [
        event(500, 1200, 503),
        event(2500, 2900, 'timeout'),
        event(900, 1001, 'network'),
        event(100, 200, 201),
      ],
      windows,
    );
    expect(a.explained).toBe(3);
    expect(a.unexplained503).toHaveLength(0);
    expect(a.unexplainedFailures).toHaveLength(0);
    expect(a.byStatus).toEqual({ '503': 1, timeout: 1, network: 1, '201': 1 });
  });

  it('flags 503s and timeouts outside every window, and every other 5xx anywhere', () => {
    const a = analyseResponses(
      [event(3100, 3200, 503), event(4000, 4100, 'timeout'), event(1500, 1600, 500), event(1500, 1600, 502)],
      windows,
    );
    expect(a.unexplained503).toHaveLength(1);
    expect(a.unexplainedFailures).toHaveLength(1);
    expect(a.non503ServerErrors.map((e) => e.status)).toEqual([500, 502]);
  });
});

describe('groupEvents', () => {
  it('groups by status, problem and route, most frequent first', () => {
    const lines = groupEvents(
      [
        event(1000, 1100, 500),
        { ...event(2000, 2100, 500) },
        { ...event(3000, 3100, 502), route: 'GET /v1/stock' },
      ],
      0,
    );
    expect(lines[0]).toMatch(/^500 POST \/v1\/reservations ×2 \(1\.0s\.\.2\.1s/);
    expect(lines[1]).toMatch(/^502 GET \/v1\/stock ×1/);
  });
});
