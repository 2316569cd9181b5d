// EC2's request rate limiting: one token bucket per action, per account and Region (cloud-api-figures.md
// section 1.1 [doc]). A call takes one token; the bucket refills continuously at a fixed rate up to its
// capacity; a call that finds it empty fails with RequestLimitExceeded. Refill is computed lazily from the
// injected clock, so virtual time needs no timers.

import type { BucketSpec } from './actions.js';

export interface BucketState {
  tokens: number;
  at: number;
}

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly spec: BucketSpec,
    now: number,
    state?: BucketState,
  ) {
    this.tokens = state ? Math.min(spec.capacity, state.tokens) : spec.capacity;
    this.at = state ? Math.min(state.at, now) : now;
  }

  /** Tokens available at `now` (fractional). */
  level(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Takes one token if there is one; false means the call is throttled. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  state(): BucketState {
    return { tokens: this.tokens, at: this.at };
  }

  private refill(now: number): void {
    if (now <= this.at) return;
    this.tokens = Math.min(
      this.spec.capacity,
      this.tokens + ((now - this.at) / 1000) * this.spec.refillPerSec,
    );
    this.at = now;
  }
}
