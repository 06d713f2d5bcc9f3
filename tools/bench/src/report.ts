import type { ProcUsage } from './procs';
import type { ProvisioningStats } from './seed';
import type { PhaseStats } from './stats';

/** What produced a measurement. */
export type MeasurementKind = 'api' | 'limit' | 'peer' | 'direct';

/** One measured phase. */
export interface Measurement {
  kind: MeasurementKind;
  /** e.g. `API: nginx → 3 gateways → inventory`. */
  label: string;
  /** Unit of throughput: `req/s`, `flows/s`, `tx/s`. */
  unit: string;
  stats: PhaseStats;
  procs: ProcUsage[];
  /** The machine during the phase: 1-minute load average at its end, free PostgreSQL connections before it. */
  context?: { loadAvg1: number; pgFreeConnections?: number };
}

/** One scenario (or one point of the scale/sweep series). */
export interface ScenarioResult {
  id: string;
  group: string;
  title: string;
  /** What the load does, in a sentence or two. */
  what: string;
  params: Record<string, number | string>;
  measurements: Measurement[];
  /** API throughput / physical-limit throughput. */
  ratio?: number;
  /** Scenario-specific numbers (posting lag, drain time, replays, ...). */
  extra: Record<string, number | string>;
  /** Things checked on the way (e.g. rate-limit headers present, replays marked). */
  checks: string[];
  /** Extra time series, e.g. the outbox backlog during the flow phase: name → [seconds, value] points. */
  series?: Record<string, [number, number][]>;
}

/** The seed's promises. */
export const SEED_TARGETS = { throughput: 1000, p95Ms: 500, p99Ms: 1000, errorRate: 0.001 };

export interface BenchReport {
  version: 1;
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; memGiB: number; node: string; postgres: string; os: string };
  target: string;
  plan: Record<string, unknown>;
  provisioning: ProvisioningStats | undefined;
  scenarios: ScenarioResult[];
  notes: string[];
  /** Scenarios or checks that failed (the run exits non-zero when any did). */
  failures: string[];
}

const fmt = (v: number, digits = 1): string =>
  !Number.isFinite(v)
    ? '-'
    : v >= 100
      ? v.toFixed(0)
      : v >= 10
        ? v.toFixed(digits > 1 ? 1 : digits)
        : v.toFixed(digits);
const pct = (v: number): string =>
  !Number.isFinite(v) ? '-' : `${(v * 100).toFixed(v > 0 && v < 0.001 ? 3 : 2)}%`;

/** The API measurement of a scenario, if any. */
export const apiOf = (s: ScenarioResult): Measurement | undefined =>
  s.measurements.find((m) => m.kind === 'api');

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * CPU time the system under test spent per operation, in ms: every measured process except the load
 * generator, over the measured window.
 */
export function cpuMsPerOp(m: Measurement): number {
  const cpu = m.procs.filter((p) => p.name !== 'bench client').reduce((a, p) => a + p.cpuPct, 0);
  return m.stats.throughput > 0 ? (cpu / 100) * (1000 / m.stats.throughput) : NaN;
}

/** Short process names for the CPU table. */
const shortName = (n: string) =>
  n.replace('gateway-', 'gw').replace('inventory', 'inv').replace('accounting', 'acc');

/** The console report: results, ratios, CPU/RSS per process, the seed's targets. */
export function renderConsole(r: BenchReport): string {
  const out: string[] = [];
  out.push(`kv-erp benchmark — ${r.finishedAt} — ${r.target}`);
  out.push(
    `machine: ${r.machine.cpus} cores (${r.machine.cpuModel}), ${r.machine.memGiB} GiB, Node ${r.machine.node}, ${r.machine.postgres}${r.quick ? '   [QUICK MODE]' : ''}`,
  );
  out.push('');
  const rows: string[][] = [];
  for (const s of r.scenarios) {
    for (const [i, m] of s.measurements.entries()) {
      const ratio =
        m.kind === 'api' && s.ratio !== undefined
          ? `${(s.ratio * 100).toFixed(0)}% of limit`
          : m.kind === 'limit'
            ? 'limit'
            : '';
      rows.push([
        i === 0 ? s.id : '',
        m.label,
        `${fmt(m.stats.throughput, 0)} ${m.unit}`,
        fmt(m.stats.latency.p50, 2),
        fmt(m.stats.latency.p95, 2),
        fmt(m.stats.latency.p99, 2),
        pct(m.stats.errorRate),
        ratio,
        m.context ? m.context.loadAvg1.toFixed(1) : '',
      ]);
    }
  }
  out.push(
    table(
      ['scenario', 'measured', 'throughput', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'API / limit', 'load'],
      rows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  out.push("load = the machine's 1-minute load average at the end of the phase (2 cores)");
  const extras = r.scenarios.filter((s) => Object.keys(s.extra).length || s.checks.length);
  if (extras.length) {
    out.push('');
    for (const s of extras) {
      const kv = Object.entries(s.extra).map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v, 2) : v}`);
      out.push(`${s.id}: ${[...kv, ...s.checks].join('; ')}`);
    }
  }
  // CPU (% of one core) and RSS per process, API phases.
  const names = [...new Set(r.scenarios.flatMap((s) => apiOf(s)?.procs.map((p) => p.name) ?? []))];
  if (names.length) {
    out.push('');
    out.push(
      'CPU % of one core / max RSS MiB per process during each API phase (2 cores = 200 %); stack ms/op = CPU time of all but the load generator per operation:',
    );
    const procRows = r.scenarios
      .filter((s) => apiOf(s))
      .map((s) => {
        const procs = apiOf(s)!.procs;
        return [
          s.id,
          ...names.map((n) => {
            const p = procs.find((x) => x.name === n);
            return p ? `${p.cpuPct.toFixed(0)}/${p.rssMaxMiB.toFixed(0)}` : '-';
          }),
          fmt(cpuMsPerOp(apiOf(s)!), 2),
        ];
      });
    out.push(
      table(['scenario', ...names.map(shortName), 'stack ms/op'], procRows, [
        'l',
        ...names.map(() => 'r' as const),
        'r',
      ]),
    );
  }
  out.push('');
  out.push(
    `seed targets: >= ${SEED_TARGETS.throughput} req/s, p95 < ${SEED_TARGETS.p95Ms} ms, p99 < ${SEED_TARGETS.p99Ms} ms, errors < ${pct(SEED_TARGETS.errorRate)}`,
  );
  const targetRows = r.scenarios
    .filter((s) => apiOf(s) && !s.group.startsWith('sweep'))
    .map((s) => {
      const m = apiOf(s)!;
      const t = m.stats;
      const reqs = m.unit === 'flows/s' ? t.throughput * 2 : t.throughput;
      return [
        s.id,
        `${fmt(reqs, 0)} req/s ${reqs >= SEED_TARGETS.throughput ? 'ok' : 'below'}`,
        `${fmt(t.latency.p95, 1)} ${t.latency.p95 < SEED_TARGETS.p95Ms ? 'ok' : 'over'}`,
        `${fmt(t.latency.p99, 1)} ${t.latency.p99 < SEED_TARGETS.p99Ms ? 'ok' : 'over'}`,
        `${pct(t.errorRate)} ${t.errorRate < SEED_TARGETS.errorRate ? 'ok' : 'over'}`,
      ];
    });
  out.push(
    table(['scenario', 'throughput', 'p95 ms', 'p99 ms', 'errors'], targetRows, ['l', 'r', 'r', 'r', 'r']),
  );
  if (r.notes.length) {
    out.push('');
    out.push(...r.notes.map((n) => `note: ${n}`));
  }
  return out.join('\n');
}

/** Markdown table of the results (for docs/benchmarks.md). */
export function renderMarkdown(r: BenchReport): string {
  const lines = [
    '| scenario | measured | throughput | p50 ms | p95 ms | p99 ms | errors | API / limit | load |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of r.scenarios) {
    for (const [i, m] of s.measurements.entries()) {
      lines.push(
        `| ${i === 0 ? s.id : ''} | ${m.label} | ${fmt(m.stats.throughput, 0)} ${m.unit} | ${fmt(m.stats.latency.p50, 2)} | ${fmt(
          m.stats.latency.p95,
          2,
        )} | ${fmt(m.stats.latency.p99, 2)} | ${pct(m.stats.errorRate)} | ${
          m.kind === 'api' && s.ratio !== undefined ? `${(s.ratio * 100).toFixed(0)} %` : ''
        } | ${m.context ? m.context.loadAvg1.toFixed(1) : ''} |`,
      );
    }
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------- HTML

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const COLORS: Record<MeasurementKind, string> = {
  api: '#2563eb',
  limit: '#16a34a',
  peer: '#dc2626',
  direct: '#9333ea',
};

/** Latency histograms of a scenario's measurements, overlaid as step lines (x: log ms, y: share of samples). */
function histogramSvg(s: ScenarioResult): string {
  const W = 520;
  const H = 200;
  const pad = { l: 40, r: 10, t: 10, b: 30 };
  const ms = s.measurements.filter((m) => m.stats.histogram.length);
  if (!ms.length) return '';
  const lo = Math.min(...ms.map((m) => m.stats.histogram[0]!.lo));
  const hi = Math.max(
    ...ms.map((m) => Math.min(m.stats.histogram[m.stats.histogram.length - 1]!.hi, 60_000)),
  );
  const x = (v: number) =>
    pad.l + ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (W - pad.l - pad.r);
  const share = (m: Measurement, c: number) =>
    c /
    Math.max(
      1,
      m.stats.histogram.reduce((a, b) => a + b.count, 0),
    );
  const maxShare = Math.max(...ms.flatMap((m) => m.stats.histogram.map((b) => share(m, b.count))));
  const y = (v: number) => H - pad.b - (v / maxShare) * (H - pad.t - pad.b);
  const paths = ms.map((m) => {
    let d = '';
    for (const b of m.stats.histogram) {
      const x0 = x(b.lo);
      const x1 = x(Math.min(b.hi, hi));
      const yy = y(share(m, b.count));
      d += `${d ? 'L' : 'M'}${x0.toFixed(1)},${(d ? yy : y(0)).toFixed(1)} L${x0.toFixed(1)},${yy.toFixed(1)} L${x1.toFixed(1)},${yy.toFixed(1)} `;
    }
    return `<path d="${d}" fill="none" stroke="${COLORS[m.kind]}" stroke-width="1.5"><title>${esc(m.label)}</title></path>`;
  });
  const ticks: string[] = [];
  for (let d = Math.pow(10, Math.floor(Math.log10(lo))); d <= hi; d *= 10) {
    if (d < lo) continue;
    ticks.push(
      `<line x1="${x(d)}" x2="${x(d)}" y1="${pad.t}" y2="${H - pad.b}" stroke="#eee"/><text x="${x(d)}" y="${H - 12}" font-size="10" text-anchor="middle">${d >= 1000 ? `${d / 1000} s` : `${d} ms`}</text>`,
    );
  }
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="latency histogram">
${ticks.join('')}<line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" stroke="#999"/>
${paths.join('\n')}
<text x="${pad.l}" y="${H - 1}" font-size="10">latency (log scale); height = share of operations</text></svg>`;
}

/** Throughput per second of the API phase. */
function timelineSvg(m: Measurement | undefined): string {
  if (!m || m.stats.timeline.length < 2) return '';
  const W = 360;
  const H = 120;
  const pad = { l: 45, r: 10, t: 10, b: 20 };
  const tl = m.stats.timeline;
  const maxY = Math.max(...tl.map((p) => p.ok + p.errors), 1);
  const maxT = Math.max(...tl.map((p) => p.t), 1);
  const x = (t: number) => pad.l + (t / maxT) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (v / maxY) * (H - pad.t - pad.b);
  const d = tl.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.ok).toFixed(1)}`).join(' ');
  const e = tl.some((p) => p.errors)
    ? `<path d="${tl.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.errors).toFixed(1)}`).join(' ')}" fill="none" stroke="#dc2626"/>`
    : '';
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="throughput over time">
<line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" stroke="#999"/>
<text x="2" y="${pad.t + 8}" font-size="10">${maxY}/s</text><text x="2" y="${H - pad.b}" font-size="10">0</text>
<text x="${W - pad.r}" y="${H - 4}" font-size="10" text-anchor="end">${maxT + 1} s</text>
<path d="${d}" fill="none" stroke="${COLORS.api}" stroke-width="1.5"/>${e}</svg>`;
}

/** Small line charts of a scenario's extra series (e.g. the outbox backlog over time). */
function extraSeriesSvg(s: ScenarioResult): string {
  return Object.entries(s.series ?? {})
    .filter(([, pts]) => pts.length > 1)
    .map(([name, pts]) => {
      const W = 360;
      const H = 120;
      const pad = { l: 45, r: 10, t: 14, b: 20 };
      const maxX = Math.max(...pts.map((p) => p[0]), 1);
      const maxY = Math.max(...pts.map((p) => p[1]), 1);
      const x = (v: number) => pad.l + (v / maxX) * (W - pad.l - pad.r);
      const y = (v: number) => H - pad.b - (v / maxY) * (H - pad.t - pad.b);
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
      return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(name)}">
<text x="${pad.l}" y="10" font-size="10">${esc(name)}</text>
<line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" stroke="#999"/>
<text x="2" y="${pad.t + 8}" font-size="10">${maxY}</text><text x="2" y="${H - pad.b}" font-size="10">0</text>
<text x="${W - pad.r}" y="${H - 4}" font-size="10" text-anchor="end">${maxX.toFixed(0)} s</text>
<path d="${d}" fill="none" stroke="#f59e0b" stroke-width="1.5"/></svg>`;
    })
    .join('');
}

/** A series chart: x = parameter (log scale), left y = latency percentiles, throughput as bars. */
function seriesSvg(title: string, points: { x: number; m: Measurement }[], xLabel: string): string {
  if (points.length < 1) return '';
  const W = 640;
  const H = 260;
  const pad = { l: 55, r: 60, t: 20, b: 40 };
  const xs = points.map((p) => p.x);
  const lx = (v: number) => Math.log10(v);
  const span = Math.max(lx(Math.max(...xs)) - lx(Math.min(...xs)), 1e-9);
  const x = (v: number) => pad.l + ((lx(v) - lx(Math.min(...xs))) / span) * (W - pad.l - pad.r);
  const maxLat = Math.max(...points.map((p) => p.m.stats.latency.p99).filter(Number.isFinite), 1);
  const maxTp = Math.max(...points.map((p) => p.m.stats.throughput), 1);
  const yl = (v: number) => H - pad.b - (v / maxLat) * (H - pad.t - pad.b);
  const yt = (v: number) => H - pad.b - (v / maxTp) * (H - pad.t - pad.b);
  const line = (f: (m: Measurement) => number, color: string, name: string) =>
    `<path d="${points.map((p, i) => `${i ? 'L' : 'M'}${x(p.x).toFixed(1)},${yl(f(p.m)).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"><title>${name}</title></path>` +
    points.map((p) => `<circle cx="${x(p.x)}" cy="${yl(f(p.m))}" r="3" fill="${color}"/>`).join('');
  const bars = points
    .map(
      (p) =>
        `<rect x="${x(p.x) - 8}" y="${yt(p.m.stats.throughput)}" width="16" height="${H - pad.b - yt(p.m.stats.throughput)}" fill="#93c5fd" opacity="0.6"><title>${p.m.stats.throughput.toFixed(0)} ${p.m.unit}</title></rect>` +
        `<text x="${x(p.x)}" y="${H - pad.b + 14}" font-size="10" text-anchor="middle">${p.x}</text>`,
    )
    .join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">
${bars}
<line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" stroke="#999"/>
${line((m) => m.stats.latency.p50, '#16a34a', 'p50')}${line((m) => m.stats.latency.p95, '#f59e0b', 'p95')}${line((m) => m.stats.latency.p99, '#dc2626', 'p99')}
<text x="4" y="${pad.t}" font-size="10">${maxLat.toFixed(0)} ms</text><text x="4" y="${H - pad.b}" font-size="10">0 ms</text>
<text x="${W - 4}" y="${pad.t}" font-size="10" text-anchor="end">${maxTp.toFixed(0)} ${points[0]!.m.unit}</text>
<text x="${(W - pad.r + pad.l) / 2}" y="${H - 6}" font-size="11" text-anchor="middle">${esc(xLabel)}</text>
<text x="${pad.l + 4}" y="${pad.t + 10}" font-size="10"><tspan fill="#16a34a">— p50</tspan> <tspan fill="#f59e0b">— p95</tspan> <tspan fill="#dc2626">— p99</tspan> <tspan fill="#60a5fa">▮ throughput</tspan></text>
</svg></figure>`;
}

/** CPU per process as horizontal bars. */
function cpuSvg(m: Measurement | undefined): string {
  if (!m || !m.procs.length) return '';
  const W = 360;
  const rowH = 16;
  const H = m.procs.length * rowH + 10;
  const max = Math.max(100, ...m.procs.map((p) => p.cpuPct));
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="CPU per process">${m.procs
    .map((p, i) => {
      const w = (p.cpuPct / max) * (W - 190);
      return `<text x="0" y="${i * rowH + 12}" font-size="11">${esc(p.name)}</text><rect x="95" y="${i * rowH + 3}" width="${w.toFixed(1)}" height="11" fill="#60a5fa"/><text x="${100 + w}" y="${i * rowH + 12}" font-size="10">${p.cpuPct.toFixed(0)}% · ${p.rssMaxMiB.toFixed(0)} MiB</text>`;
    })
    .join('')}</svg>`;
}

/** The self-contained HTML report (inline CSS and SVG; no scripts, no external resources). */
export function renderHtml(r: BenchReport): string {
  const cards = r.scenarios
    .filter((s) => !s.group.startsWith('sweep') && !s.group.startsWith('scale'))
    .map((s) => {
      const rows = s.measurements
        .map(
          (m) =>
            `<tr><td><span class="dot" style="background:${COLORS[m.kind]}"></span>${esc(m.label)}</td><td>${fmt(m.stats.throughput, 0)} ${m.unit}</td><td>${fmt(m.stats.latency.p50, 2)}</td><td>${fmt(m.stats.latency.p95, 2)}</td><td>${fmt(m.stats.latency.p99, 2)}</td><td>${fmt(m.stats.latency.max, 1)}</td><td>${pct(m.stats.errorRate)}</td><td>${m.stats.ok + m.stats.errors}</td></tr>`,
        )
        .join('');
      const extra = [
        ...Object.entries(s.extra).map(
          ([k, v]) => `${esc(k)} = ${esc(typeof v === 'number' ? fmt(v, 2) : v)}`,
        ),
        ...s.checks.map(esc),
      ];
      return `<section class="card"><h2>${esc(s.title)} <small>${esc(s.id)}</small></h2><p>${esc(s.what)}</p>
<table><tr><th>measured</th><th>throughput</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>errors</th><th>ops</th></tr>${rows}</table>
${s.ratio !== undefined ? `<p class="ratio">API reaches <b>${(s.ratio * 100).toFixed(0)} %</b> of the physical limit (pgbench, same SQL, same rows).</p>` : ''}
${extra.length ? `<ul>${extra.map((e) => `<li>${e}</li>`).join('')}</ul>` : ''}
<div class="charts">${histogramSvg(s)}${timelineSvg(apiOf(s))}${extraSeriesSvg(s)}${cpuSvg(apiOf(s))}</div></section>`;
    })
    .join('\n');
  const series = (group: string) =>
    r.scenarios
      .filter((s) => s.group === group && apiOf(s))
      .map((s) => ({ x: Number(s.params.x), m: apiOf(s)! }))
      .sort((a, b) => a.x - b.x);
  const scaleRows = r.scenarios
    .filter((s) => s.group === 'scale')
    .map(
      (s) =>
        `<tr><td>${s.params.x}</td>${s.measurements.map((m) => `<td>${esc(m.label)}: ${fmt(m.stats.throughput, 0)} ${m.unit}, p95 ${fmt(m.stats.latency.p95, 2)} ms</td>`).join('')}<td>${s.ratio !== undefined ? `${(s.ratio * 100).toFixed(0)} %` : ''}</td></tr>`,
    )
    .join('');
  const prov = r.provisioning
    ? `<p>Provisioning through the API: ${r.provisioning.tenants} tenants at ${fmt(r.provisioning.tenantsPerS, 1)}/s, ${r.provisioning.users} users at ${fmt(r.provisioning.usersPerS, 1)}/s, ${r.provisioning.logins} logins at ${fmt(r.provisioning.loginsPerS, 1)}/s. SQL seeding: ${r.provisioning.sql.map((x) => `${esc(x.what)} ${x.rows} rows in ${fmt(x.seconds, 1)} s`).join('; ')}.</p>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kv-erp benchmark ${esc(r.finishedAt)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111;max-width:1200px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.card{border:1px solid #ddd;border-radius:8px;padding:12px 16px;margin:16px 0}.card h2{margin:0 0 4px;font-size:18px}.card small{color:#777;font-weight:normal}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.dot{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:6px}
.ratio{font-size:15px}figure{margin:8px 0}figcaption{font-weight:bold}pre{background:#f6f6f6;padding:8px;overflow:auto}
</style></head><body>
<h1>kv-erp benchmark</h1>
<p>${esc(r.finishedAt)} · ${esc(r.target)}${r.quick ? ' · <b>quick mode</b>' : ''}<br>
Machine: ${r.machine.cpus} cores (${esc(r.machine.cpuModel)}), ${r.machine.memGiB} GiB, Node ${esc(r.machine.node)}, ${esc(r.machine.postgres)}, ${esc(r.machine.os)}</p>
<p>Colours: <span class="dot" style="background:${COLORS.api}"></span>API through nginx and the gateways ·
<span class="dot" style="background:${COLORS.limit}"></span>physical limit (pgbench, the same SQL on the same rows) ·
<span class="dot" style="background:${COLORS.peer}"></span>peer baseline: the seed's design (Redis lock + SELECT FOR UPDATE) ·
<span class="dot" style="background:${COLORS.direct}"></span>this design, same direct harness.</p>
${prov}
<h2>Summary</h2><pre>${esc(renderConsole(r))}</pre>
${cards}
<section class="card"><h2>Scale: the same reservation load with more tenants</h2>
${seriesSvg('Reservations vs number of tenants (API)', series('scale'), 'tenants (log scale)')}
<table><tr><th>tenants</th><th colspan="2">measurements</th><th>API / limit</th></tr>${scaleRows}</table></section>
<section class="card"><h2>Connection sweep: where latency bends</h2>
${seriesSvg('Reservations on 10,000 SKUs vs concurrent connections (API)', series('sweep'), 'concurrent connections (log scale)')}
${r.scenarios
  .filter((s) => s.group === 'sweep')
  .map((s) =>
    Object.entries(s.extra)
      .map(([k, v]) => `<p>${esc(k)}: ${esc(String(v))}</p>`)
      .join(''),
  )
  .join('')}</section>
${r.notes.length ? `<h2>Notes</h2><ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}
