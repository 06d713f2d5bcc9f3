/** Latency percentiles in ms. */
export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** One bar of a latency histogram: samples with `lo <= ms < hi`. */
export interface HistogramBin {
  lo: number;
  hi: number;
  count: number;
}

/** Per-second counters of a phase (for the throughput-over-time plot). */
export interface SecondSample {
  /** Seconds since the measured window started. */
  t: number;
  ok: number;
  errors: number;
  p95: number;
}

/** What one measured phase produced. */
export interface PhaseStats {
  /** Operations that succeeded (requests, or whole flows). */
  ok: number;
  errors: number;
  total: number;
  /** Measured window in seconds. */
  seconds: number;
  /** ok / seconds. */
  throughput: number;
  /** errors / total (0..1). */
  errorRate: number;
  latency: Percentiles;
  histogram: HistogramBin[];
  timeline: SecondSample[];
  /** Status code (or `network`) → count, for every response outside the expected ones. */
  errorKinds: Record<string, number>;
}

/** Value at percentile `p` (0..100) of an ascending array (nearest rank). */
export function percentileOf(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return sorted[rank]!;
}

/** Percentiles of unsorted samples. */
export function percentiles(samples: ArrayLike<number>): Percentiles {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: percentileOf(sorted, 50),
    p95: percentileOf(sorted, 95),
    p99: percentileOf(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

/** Log-spaced bins from 0.05 ms to 30 s, 8 per decade; empty bins at both ends are dropped. */
export function histogramOf(samples: ArrayLike<number>): HistogramBin[] {
  const perDecade = 8;
  const min = 0.05;
  const edges: number[] = [];
  for (let e = min; e < 30_000; e *= 10 ** (1 / perDecade)) edges.push(e);
  edges.push(Infinity);
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(samples[i]!, min);
    const idx = Math.min(counts.length - 1, Math.floor(Math.log10(v / min) * perDecade));
    counts[idx]!++;
  }
  const bins = counts.map((count, i) => ({ lo: edges[i]!, hi: edges[i + 1]!, count }));
  const first = bins.findIndex((b) => b.count > 0);
  if (first < 0) return [];
  let last = bins.length - 1;
  while (bins[last]!.count === 0) last--;
  return bins.slice(first, last + 1);
}

/**
 * Collects latencies and outcomes of one phase. Samples that started before `measureFrom` (warm-up) or
 * after `measureTo` are ignored.
 */
export class Recorder {
  private lat = new Float64Array(1 << 16);
  private at = new Float64Array(1 << 16);
  private n = 0;
  private errors = 0;
  private errorAt: number[] = [];
  readonly errorKinds: Record<string, number> = {};
  measureFrom = 0;
  measureTo = Infinity;

  /** Records a success that started at `start` (performance.now() ms) and took `ms`. */
  ok(start: number, ms: number): void {
    if (start < this.measureFrom || start > this.measureTo) return;
    if (this.n === this.lat.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.lat = grow(this.lat);
      this.at = grow(this.at);
    }
    this.lat[this.n] = ms;
    this.at[this.n] = start;
    this.n++;
  }

  /** Records a failure (`kind`: status code or `network`). */
  fail(start: number, kind: string): void {
    if (start < this.measureFrom || start > this.measureTo) return;
    this.errors++;
    this.errorAt.push(start);
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
  }

  /** Successes so far (for the progress line). */
  get count(): number {
    return this.n;
  }

  get failures(): number {
    return this.errors;
  }

  /** Latencies of the last `windowMs` of samples (for the progress line). */
  recentP95(sinceStart: number): number {
    const recent: number[] = [];
    for (let i = this.n - 1; i >= 0 && this.at[i]! >= sinceStart; i--) recent.push(this.lat[i]!);
    return percentiles(recent).p95;
  }

  /** Summary of the measured window (`seconds` long). */
  finish(seconds: number): PhaseStats {
    const lat = this.lat.subarray(0, this.n);
    const total = this.n + this.errors;
    const buckets = new Map<number, { ok: number[]; errors: number }>();
    const bucket = (start: number) => {
      const t = Math.floor((start - this.measureFrom) / 1000);
      let b = buckets.get(t);
      if (!b) buckets.set(t, (b = { ok: [], errors: 0 }));
      return b;
    };
    for (let i = 0; i < this.n; i++) bucket(this.at[i]!).ok.push(lat[i]!);
    for (const e of this.errorAt) bucket(e).errors++;
    const timeline = [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .filter(([t]) => t >= 0 && t < Math.ceil(seconds))
      .map(([t, b]) => ({ t, ok: b.ok.length, errors: b.errors, p95: percentiles(b.ok).p95 }));
    return {
      ok: this.n,
      errors: this.errors,
      total,
      seconds,
      throughput: this.n / seconds,
      errorRate: total ? this.errors / total : 0,
      latency: percentiles(lat),
      histogram: histogramOf(lat),
      timeline,
      errorKinds: { ...this.errorKinds },
    };
  }
}
