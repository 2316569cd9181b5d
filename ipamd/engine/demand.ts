// Learned demand for the adaptive policy: an exponentially decaying event rate (allocations per second)
// and an exponentially weighted mean of cloud round trips. Time is passed in, never read.

export interface RateEstimate {
  /** Events per second as of `at`. */
  rate: number;
  at: number;
}

/** Time constant of the rate estimate: a burst is remembered for about this long. */
export const RATE_TAU_MS = 30_000;

export function decayedRate(e: RateEstimate, now: number, tauMs = RATE_TAU_MS): number {
  const dt = Math.max(0, now - e.at);
  return e.rate * Math.exp(-dt / tauMs);
}

/** Records `n` events at `now`: each adds 1/τ to a rate that decays with time constant τ. */
export function recordEvents(e: RateEstimate, now: number, n = 1, tauMs = RATE_TAU_MS): RateEstimate {
  return { rate: decayedRate(e, now, tauMs) + (n * 1000) / tauMs, at: now };
}

/**
 * The events of the last few seconds, counted as of the moment asked: the short memory beside the decaying
 * rate, which needs about RATE_TAU_MS to reach a new rate (1 − e^(−t/τ) of it: 10 % after a tenth of τ). Flat-cost
 * writes size a grow by it when a burst has only just begun. Time is passed in.
 */
export class RecentEvents {
  private at: number[] = [];

  constructor(private readonly keepMs: number) {}

  record(now: number): void {
    this.at.push(now);
    this.prune(now);
  }

  /** Events per second over the last `windowMs` (the count over the whole window, never a shorter span). */
  ratePerSec(now: number, windowMs: number): number {
    this.prune(now);
    let n = 0;
    for (let i = this.at.length - 1; i >= 0 && this.at[i] > now - windowMs; i--) n++;
    return windowMs > 0 ? (n * 1000) / windowMs : 0;
  }

  private prune(now: number): void {
    let drop = 0;
    while (drop < this.at.length && this.at[drop] <= now - this.keepMs) drop++;
    if (drop) this.at.splice(0, drop);
  }
}

/** EWMA of a latency; the first sample replaces the prior. */
export function ewma(prev: number | undefined, sample: number, alpha = 0.3): number {
  return prev === undefined ? sample : prev + alpha * (sample - prev);
}

/**
 * A burst this recent may be an HPA step: the HPA's default scale-up is max(+4, ×2) every 15 s
 * (cloud-api-figures.md 6), so the next step can be twice as large within 15 s. Two periods.
 */
export const HPA_TREND_MS = 30_000;

/** How long the adaptive policy remembers a burst: the pool keeps room for it this long. */
export const BURST_HOLD_MS = 900_000;

/**
 * The largest number of requests seen within one window (about one cloud round trip) during the last
 * BURST_HOLD_MS: how many pods may arrive before a cloud call could add addresses, learned from the
 * bursts actually seen (CronJobs at minute boundaries, HPA doubling). Time is passed in.
 */
export class BurstWindow {
  private recent: number[] = [];
  /** Monotonic (decreasing count) queue of (time, count) for the sliding maximum. */
  private peaks: { at: number; count: number }[] = [];

  record(now: number, windowMs: number): void {
    this.recent.push(now);
    while (this.recent.length && this.recent[0] <= now - windowMs) this.recent.shift();
    const count = this.recent.length;
    while (this.peaks.length && this.peaks[this.peaks.length - 1].count <= count) this.peaks.pop();
    this.peaks.push({ at: now, count });
  }

  /** The largest burst of the last `ms` (without forgetting older peaks). */
  recentPeak(now: number, ms: number): number {
    // peaks: oldest first, counts decreasing; the first one inside the span is the largest there.
    for (const p of this.peaks) if (p.at > now - ms) return p.count;
    return 0;
  }

  peak(now: number, holdMs = BURST_HOLD_MS): number {
    while (this.peaks.length && this.peaks[0].at <= now - holdMs) this.peaks.shift();
    return this.peaks.length ? this.peaks[0].count : 0;
  }
}
