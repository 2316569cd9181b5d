// The one token bucket of the project: the sim cloud's account-wide EC2 buckets (sim/throttle.ts) and the
// daemon's client-side budget (ipamd/budget.ts) both use it. EC2's model (cloud-api-figures.md 1.1
// [doc]): a call takes one token; the bucket refills continuously at a fixed, possibly fractional rate up
// to its capacity. Refill is computed lazily from the time passed in, so virtual time needs no timers.

export interface BucketSpec {
  capacity: number;
  /** Tokens per second; may be fractional (section 1.2: CreateVpcEndpoint 4/0.3). */
  refillPerSec: number;
}

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
    if (!(spec.capacity >= 1) || !(spec.refillPerSec > 0))
      throw new Error(
        `token bucket: capacity must be >= 1 and refill > 0 per second (got ${spec.capacity}/${spec.refillPerSec})`,
      );
    this.tokens = state ? Math.min(spec.capacity, state.tokens) : spec.capacity;
    this.at = state ? Math.min(state.at, now) : now;
  }

  /** Tokens available at `now` (fractional). */
  level(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Takes one token if there is one; false means the call must wait (or, in the cloud, is throttled). */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds from `now` until a token is available (0 if one is). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.spec.refillPerSec) * 1000);
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
