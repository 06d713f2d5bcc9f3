import { CircuitBreaker, type BreakerState } from '../src/http/circuit-breaker';

function setup(threshold = 3, openMs = 1000) {
  let now = 0;
  const states: BreakerState[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold: threshold,
    openMs,
    now: () => now,
    onStateChange: (s) => states.push(s),
  });
  return { breaker, states, advance: (ms: number) => (now += ms) };
}

describe('CircuitBreaker', () => {
  it('stays closed below the threshold and a success resets the count', () => {
    const { breaker } = setup();
    breaker.tryAcquire()!.failure();
    breaker.tryAcquire()!.failure();
    breaker.tryAcquire()!.success();
    breaker.tryAcquire()!.failure();
    breaker.tryAcquire()!.failure();
    expect(breaker.current).toBe('closed');
  });

  it('opens after consecutive failures and fails fast until openMs has passed', () => {
    const { breaker, states, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.tryAcquire()!.failure();
    expect(breaker.current).toBe('open');
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.retryAfterMs()).toBe(1000);
    advance(999);
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(states).toEqual(['open']);
  });

  it('lets exactly one probe through when half-open; its success closes the circuit', () => {
    const { breaker, states, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.tryAcquire()!.failure();
    advance(1000);
    expect(breaker.current).toBe('half-open');
    const probe = breaker.tryAcquire();
    expect(probe).toBeDefined();
    expect(breaker.tryAcquire()).toBeUndefined();
    probe!.success();
    expect(breaker.current).toBe('closed');
    expect(breaker.tryAcquire()).toBeDefined();
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('re-opens for another period when the probe fails', () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) breaker.tryAcquire()!.failure();
    advance(1000);
    breaker.tryAcquire()!.failure();
    expect(breaker.current).toBe('open');
    expect(breaker.tryAcquire()).toBeUndefined();
    advance(1000);
    expect(breaker.tryAcquire()).toBeDefined();
  });

  it('counts each ticket once', () => {
    const { breaker } = setup(2);
    const t = breaker.tryAcquire()!;
    t.failure();
    t.failure();
    expect(breaker.current).toBe('closed');
  });
});
