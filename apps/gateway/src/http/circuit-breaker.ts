/** `closed`: calls pass; `open`: calls fail fast; `half-open`: one trial call decides. */
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit; default 5. */
  failureThreshold?: number;
  /** How long the circuit stays open before a trial call is let through, in ms; default 5000. */
  openMs?: number;
  /** Clock (tests). */
  now?: () => number;
  /** Called on every state change (metrics, logs). */
  onStateChange?: (state: BreakerState) => void;
}

/** Permission to make one call; report its outcome exactly once. */
export interface BreakerTicket {
  success(): void;
  failure(): void;
}

/**
 * A per-upstream circuit breaker. While open, {@link CircuitBreaker.tryAcquire} returns `undefined` at once
 * (the caller answers 503 without waiting for a dead upstream); after `openMs` one caller probes
 * (half-open): success closes the circuit, failure re-opens it for another `openMs`.
 */
export class CircuitBreaker {
  private state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private readonly threshold: number;
  private readonly openMs: number;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 5;
    this.openMs = options.openMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  /** Current state (an open circuit whose wait is over reports `half-open`). */
  get current(): BreakerState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.openMs) return 'half-open';
    return this.state;
  }

  /** Milliseconds until a trial call is allowed (0 unless open). */
  retryAfterMs(): number {
    return this.state === 'open' ? Math.max(0, this.openMs - (this.now() - this.openedAt)) : 0;
  }

  /** A ticket to call, or `undefined` when the call must fail fast. */
  tryAcquire(): BreakerTicket | undefined {
    if (this.state === 'open') {
      if (this.now() - this.openedAt < this.openMs) return undefined;
      this.transition('half-open');
    }
    if (this.state === 'half-open') {
      if (this.probing) return undefined;
      this.probing = true;
      return this.ticket(true);
    }
    return this.ticket(false);
  }

  private ticket(probe: boolean): BreakerTicket {
    let done = false;
    return {
      success: () => {
        if (done) return;
        done = true;
        if (probe) this.probing = false;
        this.failures = 0;
        if (this.state !== 'closed') this.transition('closed');
      },
      failure: () => {
        if (done) return;
        done = true;
        if (probe) this.probing = false;
        this.failures += 1;
        if (this.state === 'half-open' || (this.state === 'closed' && this.failures >= this.threshold)) {
          this.openedAt = this.now();
          this.transition('open');
        }
      },
    };
  }

  private transition(state: BreakerState): void {
    this.state = state;
    this.options.onStateChange?.(state);
  }
}
