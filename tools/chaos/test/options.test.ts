import { parseOptions } from '../src/options';

describe('parseOptions', () => {
  it('runs 120 s by default and 60 s with --short', () => {
    expect(parseOptions([], {}).durationS).toBe(120);
    expect(parseOptions(['--short'], {}).durationS).toBe(60);
  });

  it('takes the duration from CHAOS_DURATION_S or --duration, the flag winning', () => {
    expect(parseOptions([], { CHAOS_DURATION_S: '45' }).durationS).toBe(45);
    expect(parseOptions(['--duration=30'], { CHAOS_DURATION_S: '45' }).durationS).toBe(30);
  });

  it('keeps a given seed so that a run can be repeated', () => {
    expect(parseOptions(['--seed=42'], {}).seed).toBe(42);
    expect(parseOptions([], { CHAOS_SEED: '7' }).seed).toBe(7);
  });

  it('uses the local replica unless told not to', () => {
    expect(parseOptions([], {}).replicaUrl).toBe('postgres://postgres@127.0.0.1:5433/postgres');
    expect(parseOptions(['--no-replica'], {}).replicaUrl).toBeUndefined();
    expect(parseOptions([], { CHAOS_REPLICA_URL: 'off' }).replicaUrl).toBeUndefined();
  });

  it('rejects unknown arguments and out-of-range numbers, naming them', () => {
    expect(() => parseOptions(['--shrot'], {})).toThrow(/unknown argument --shrot/);
    expect(() => parseOptions([], { CHAOS_DURATION_S: 'abc' })).toThrow(/CHAOS_DURATION_S/);
    expect(() => parseOptions([], { CHAOS_CLIENTS: '0' })).toThrow(/CHAOS_CLIENTS/);
  });
});
