import { FAULT_KINDS, planSchedule } from '../src/faults';
import { Rng } from '../src/rng';

describe('planSchedule', () => {
  it('injects every fault kind once even in the short run, inside the run', () => {
    const plan = planSchedule(60, new Rng(1));
    expect(new Set(plan.map((p) => p.kind))).toEqual(new Set(FAULT_KINDS));
    expect(plan.every((p) => p.atS >= 4 && p.atS < 56)).toBe(true);
  });

  it('repeats the kinds in rounds on longer runs, evenly spaced', () => {
    const plan = planSchedule(120, new Rng(2));
    expect(plan.length).toBeGreaterThanOrEqual(2 * FAULT_KINDS.length);
    const gaps = plan.slice(1).map((p, i) => p.atS - plan[i]!.atS);
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeLessThanOrEqual(0.2);
  });

  it('is the same for the same seed', () => {
    expect(planSchedule(90, new Rng(5))).toEqual(planSchedule(90, new Rng(5)));
  });
});
