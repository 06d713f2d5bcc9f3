import { histogramOf, percentiles, Recorder } from '../src/stats';
import { renderConsole, renderHtml, renderMarkdown, type BenchReport, type Measurement } from '../src/report';
import { planFrom, benchEnvSchema } from '../src/config';
import { loadConfig } from '@kv/config';
import { productId, accountId, sqlTenantId } from '../src/ids';

function measurement(kind: Measurement['kind'], throughput: number, samples: number[]): Measurement {
  const rec = new Recorder();
  const t0 = 0;
  samples.forEach((ms, i) => rec.ok(t0 + i, ms));
  const stats = rec.finish(1);
  return {
    kind,
    label: `${kind} line`,
    unit: 'req/s',
    stats: { ...stats, throughput },
    procs: [{ name: 'inventory', cpuPct: 42, rssMaxMiB: 120, count: 1 }],
  };
}

describe('stats', () => {
  it('computes nearest-rank percentiles', () => {
    const p = percentiles(Array.from({ length: 100 }, (_, i) => i + 1));
    expect([p.p50, p.p95, p.p99, p.max]).toEqual([50, 95, 99, 100]);
  });

  it('ignores samples outside the measured window and counts failures by kind', () => {
    const rec = new Recorder();
    rec.measureFrom = 1000;
    rec.measureTo = 2000;
    rec.ok(500, 1);
    rec.ok(1500, 2);
    rec.fail(1600, '503');
    rec.fail(2500, '503');
    const s = rec.finish(1);
    expect(s.ok).toBe(1);
    expect(s.errors).toBe(1);
    expect(s.errorKinds).toEqual({ '503': 1 });
    expect(s.errorRate).toBe(0.5);
  });

  it('bins latencies on a log scale without empty ends', () => {
    const bins = histogramOf([1, 1, 10, 100]);
    expect(bins[0]!.count).toBe(2);
    expect(bins.reduce((a, b) => a + b.count, 0)).toBe(4);
    expect(bins[bins.length - 1]!.count).toBe(1);
  });
});

describe('ids', () => {
  it('derives uuids pgbench can compute from the tenant number', () => {
    expect(productId(10_001, 42)).toBe('00002711-0001-4000-8000-000000000042');
    expect(accountId(1, 2)).toBe('00000001-0002-4000-8000-000000000002');
    expect(sqlTenantId(255, 'abc123')).toBe('000000ff-0003-4000-8000-000000abc123');
  });
});

describe('config', () => {
  it('quick mode shortens phases and scales', () => {
    const plan = planFrom(loadConfig(benchEnvSchema, { BENCH_QUICK: '1' }), '/tmp/out');
    expect(plan.durationS).toBe(2);
    expect(plan.scales).toEqual([5, 50]);
    expect(plan.scenarios.has('sweep')).toBe(true);
  });

  it('refuses an unknown scenario name', () => {
    expect(() => planFrom(loadConfig(benchEnvSchema, { BENCH_SCENARIOS: 'nope' }), '/tmp/out')).toThrow(
      /unknown scenario/,
    );
  });
});

describe('report', () => {
  const report: BenchReport = {
    version: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:10:00.000Z',
    quick: true,
    machine: {
      cpus: 2,
      cpuModel: 'test cpu',
      memGiB: 24,
      node: '20.20.2',
      postgres: 'PostgreSQL 15.20',
      os: 'Debian 12',
    },
    target: 'test stack',
    plan: {},
    provisioning: {
      tenants: 2,
      tenantsPerS: 5,
      users: 4,
      usersPerS: 10,
      logins: 6,
      loginsPerS: 20,
      sql: [{ what: 'main catalogs', rows: 100, seconds: 0.1 }],
    },
    scenarios: [
      {
        id: 'reserve-spread',
        group: 'reserve-spread',
        title: 'Reservations <spread>',
        what: 'reserve',
        params: {},
        measurements: [measurement('api', 800, [1, 2, 3, 50]), measurement('limit', 1600, [0.5, 1, 2])],
        ratio: 0.5,
        extra: { 'posting lag p95 ms': 12.5 },
        checks: ['rate-limit headers present'],
      },
      {
        id: 'sweep-8',
        group: 'sweep',
        title: 'sweep 8',
        what: '',
        params: { x: 8 },
        measurements: [measurement('api', 500, [2, 3])],
        extra: {},
        checks: [],
      },
      {
        id: 'sweep-64',
        group: 'sweep',
        title: 'sweep 64',
        what: '',
        params: { x: 64 },
        measurements: [measurement('api', 900, [9, 30])],
        extra: { 'latency bends': 'no bend' },
        checks: [],
      },
    ],
    notes: ['a note'],
    failures: [],
  };

  it('prints the table with the ratio to the physical limit', () => {
    const text = renderConsole(report);
    expect(text).toContain('reserve-spread');
    expect(text).toContain('50% of limit');
    expect(text).toContain('seed targets');
  });

  it('renders a self-contained HTML page with inline SVG charts and escaped text', () => {
    const html = renderHtml(report);
    expect(html).toContain('<svg');
    expect(html).toContain('Reservations &lt;spread&gt;');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3)/);
  });

  it('renders a Markdown table', () => {
    expect(renderMarkdown(report).split('\n')[2]).toMatch(/^\| reserve-spread \| api line \| 800 req\/s/);
  });
});
