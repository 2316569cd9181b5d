// Account-aware pacing (issue 14): every node of a cluster shares the account's EC2 token buckets
// (cloud-api-figures.md 1.1), and nothing tells a daemon what the others spend. So each daemon behaves
// like a congestion controller on what it alone sees, the cloud's answers, per API class:
// - unpaced until the cloud throttles it (a node on a quiet account is never slowed down);
// - on throttling, multiplicative decrease of its send rate (at most once per window, so a burst of
//   rejections from one overload counts once);
// - additive increase with time since the last decrease, back to unpaced when the rate reaches the
//   ceiling;
// - every gap between two sends jittered, so daemons that were throttled together do not resend together.
// No central component and nothing shared between daemons. Time and randomness are passed in.

export interface PacingSpec {
  /** Rate after the first throttle, calls/s (then halved on every further one). */
  initialRatePerSec: number;
  /** Floor of the rate, calls/s. */
  minRatePerSec: number;
  /** Above this rate the class is unpaced again, calls/s. */
  maxRatePerSec: number;
  /** Multiplicative decrease factor on throttling, in (0, 1). */
  decrease: number;
  /** Additive increase, calls/s gained per second without throttling. */
  increasePerSec: number;
  /** Gaps are uniformly random in [1 − jitter, 1 + jitter] × 1/rate; jitter in [0, 1). */
  jitter: number;
  /** A throttle within this many ms of the last decrease does not decrease again. */
  decreaseWindowMs: number;
}

export const DEFAULT_PACING: PacingSpec = {
  initialRatePerSec: 1,
  minRatePerSec: 0.02,
  maxRatePerSec: 4,
  decrease: 0.5,
  increasePerSec: 0.05,
  jitter: 0.5,
  decreaseWindowMs: 1_000,
};

export function validatePacing(spec: PacingSpec): PacingSpec {
  const bad = (what: string) => new Error(`pacing: ${what} (got ${JSON.stringify(spec)})`);
  if (!(spec.minRatePerSec > 0)) throw bad('minRatePerSec must be > 0');
  if (!(spec.maxRatePerSec >= spec.minRatePerSec)) throw bad('maxRatePerSec must be >= minRatePerSec');
  if (!(spec.initialRatePerSec > 0)) throw bad('initialRatePerSec must be > 0');
  if (!(spec.decrease > 0 && spec.decrease < 1)) throw bad('decrease must be in (0, 1)');
  if (!(spec.increasePerSec >= 0)) throw bad('increasePerSec must be >= 0');
  if (!(spec.jitter >= 0 && spec.jitter < 1)) throw bad('jitter must be in [0, 1)');
  if (!(spec.decreaseWindowMs >= 0)) throw bad('decreaseWindowMs must be >= 0');
  return spec;
}

/** The AIMD pacer of one API class of one daemon. */
export class AimdPacer {
  /** Rate at the last decrease; undefined = unpaced. */
  private base?: number;
  private decreasedAt = 0;
  private nextAt = 0;
  /** Decreases since start (for introspection and tests). */
  decreases = 0;

  constructor(
    readonly spec: PacingSpec,
    private readonly random: () => number,
  ) {
    validatePacing(spec);
  }

  /** The send rate in force at `now`, calls/s; Infinity when unpaced. */
  rate(now: number): number {
    if (this.base === undefined) return Infinity;
    const r = this.base + (this.spec.increasePerSec * Math.max(0, now - this.decreasedAt)) / 1000;
    if (r >= this.spec.maxRatePerSec) {
      this.base = undefined;
      return Infinity;
    }
    return r;
  }

  /** Paced or not at `now`, the rate in force (null when unpaced) and the decreases so far. */
  view(now: number): { paced: boolean; ratePerSec: number | null; decreases: number } {
    const r = this.rate(now);
    return { paced: r !== Infinity, ratePerSec: r === Infinity ? null : r, decreases: this.decreases };
  }

  /** How long a call must wait at `now` before it may be sent. */
  delayMs(now: number): number {
    return this.rate(now) === Infinity ? 0 : Math.max(0, this.nextAt - now);
  }

  /** A call is sent at `now`: the next one waits one jittered gap. */
  sent(now: number): void {
    const r = this.rate(now);
    if (r === Infinity) return;
    const gap = (1000 / r) * (1 - this.spec.jitter + 2 * this.spec.jitter * this.random());
    this.nextAt = Math.max(now, this.nextAt) + gap;
  }

  /** The cloud throttled a call at `now`. */
  throttled(now: number): void {
    const r = this.rate(now);
    if (r !== Infinity && now - this.decreasedAt < this.spec.decreaseWindowMs) return;
    const next = r === Infinity ? this.spec.initialRatePerSec : r * this.spec.decrease;
    this.base = Math.max(this.spec.minRatePerSec, Math.min(next, this.spec.maxRatePerSec));
    this.decreasedAt = now;
    this.decreases++;
    // The next send waits a jittered gap at the new rate, counted from now.
    this.nextAt = now;
    this.sent(now);
  }
}
