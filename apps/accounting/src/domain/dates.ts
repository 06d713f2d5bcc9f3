/** Today's date in UTC, `YYYY-MM-DD`. */
export function todayUtc(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** The UTC calendar date of an instant, `YYYY-MM-DD`. */
export function utcDateOf(instant: string | Date): string {
  return new Date(instant).toISOString().slice(0, 10);
}

/** The period (`YYYY-MM`) a date (`YYYY-MM-DD`) falls in. */
export function periodOf(date: string): string {
  return date.slice(0, 7);
}

/** The period after `period` (`2026-12` → `2027-01`). */
export function nextPeriod(period: string): string {
  const year = Number(period.slice(0, 4));
  const month = Number(period.slice(5, 7));
  return month === 12
    ? `${String(year + 1).padStart(4, '0')}-01`
    : `${period.slice(0, 4)}-${String(month + 1).padStart(2, '0')}`;
}

/** First day (`YYYY-MM-01`) of a period. */
export function firstDayOf(period: string): string {
  return `${period}-01`;
}

/**
 * The first period at or after `period` that is not in `closed` (ascending or not), e.g. for dating a
 * posting whose own period is closed.
 */
export function firstOpenPeriod(period: string, closed: Iterable<string>): string {
  const set = new Set(closed);
  let p = period;
  while (set.has(p)) p = nextPeriod(p);
  return p;
}
