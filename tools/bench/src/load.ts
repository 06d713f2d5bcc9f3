import { performance } from 'node:perf_hooks';
import { Recorder, type PhaseStats } from './stats';

/** The console progress line (rewritten in place on a terminal, one line every few seconds otherwise). */
export class Progress {
  private readonly t0 = Date.now();
  private lastLine = 0;
  private shown = false;

  /** @param write where text goes (default stderr); @param tty rewrite the line in place (default: stderr is a TTY). */
  constructor(
    private readonly write: (text: string) => void = (t) => process.stderr.write(t),
    private readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  /** Replaces the progress line. */
  update(text: string): void {
    if (this.tty) {
      this.write(`\r\x1b[2K${text}`);
      this.shown = true;
    } else if (Date.now() - this.lastLine >= 5000) {
      this.write(`${text}\n`);
      this.lastLine = Date.now();
    }
  }

  /** Prints a permanent line (above the progress line), prefixed with the time since the start. */
  log(text: string): void {
    if (this.shown) this.write('\r\x1b[2K');
    this.shown = false;
    const s = Math.floor((Date.now() - this.t0) / 1000);
    this.write(
      `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${text}\n`,
    );
  }
}

/** Outcome of one operation: `null` = success, else an error kind (status code, `network`, ...). */
export type Outcome = string | null;

export interface LoadOptions {
  /** Label on the progress line. */
  label: string;
  /** Concurrent closed-loop workers (each waits for its response before sending the next request). */
  workers: number;
  durationS: number;
  warmupS: number;
  progress: Progress;
  /** One operation (a request or a whole flow) by worker `w`. */
  op: (w: number) => Promise<Outcome>;
  /** Called when the warm-up ends and measuring starts (e.g. to start CPU sampling). */
  onMeasureStart?: () => void;
}

/**
 * Runs `op` in `workers` closed loops for warm-up + duration and measures the window after the warm-up.
 * Operations still running at the end are awaited (up to 30 s) but not counted.
 */
export async function runLoad(options: LoadOptions): Promise<PhaseStats> {
  const rec = new Recorder();
  const t0 = performance.now();
  rec.measureFrom = t0 + options.warmupS * 1000;
  rec.measureTo = rec.measureFrom + options.durationS * 1000;
  const endAt = rec.measureTo;
  let stop = false;
  const worker = async (w: number) => {
    while (!stop && performance.now() < endAt) {
      const start = performance.now();
      let outcome: Outcome;
      try {
        outcome = await options.op(w);
      } catch (err) {
        outcome = `network:${(err as { code?: string }).code ?? (err as Error).name}`;
      }
      const ms = performance.now() - start;
      if (outcome === null) rec.ok(start, ms);
      else rec.fail(start, outcome);
    }
  };
  const timer = setInterval(() => {
    const now = performance.now();
    const measuring = now >= rec.measureFrom;
    const elapsed = (now - (measuring ? rec.measureFrom : t0)) / 1000;
    const rate = measuring && elapsed > 0 ? rec.count / elapsed : 0;
    options.progress.update(
      `  ${options.label}: ${measuring ? `${elapsed.toFixed(0)}/${options.durationS} s` : 'warm-up'}  ` +
        `${rate.toFixed(0)} ops/s  p95(1s) ${rec.recentP95(now - 1000).toFixed(1)} ms  errors ${rec.failures}`,
    );
  }, 500);
  const measureTimer = setTimeout(() => options.onMeasureStart?.(), options.warmupS * 1000);
  const all = Promise.all(Array.from({ length: options.workers }, (_, w) => worker(w)));
  await new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, endAt - performance.now())));
  stop = true;
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 30_000))]);
  clearInterval(timer);
  clearTimeout(measureTimer);
  return rec.finish(options.durationS);
}
