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

/** The longest burst window the core asks for (one round trip plus a tick, capped): what the queues keep. */
export const BURST_WINDOW_MAX_MS = 10_000;

/**
 * The events of the last few seconds, counted as of the moment asked: the short memory beside the decaying
 * rate, which needs about RATE_TAU_MS to reach a new rate (1 − e^(−t/τ) of it: 10 % after a tenth of τ).
 * Flat-cost writes size a grow by it when a burst has only just begun; BurstWindow counts its bursts in it.
 * Every ADD records into one, so a record is O(1): expired events are skipped by a head index and the
 * array is compacted only once they are half of it. Time is passed in.
 */
export class RecentEvents {
  private at: number[] = [];
  private head = 0;

  constructor(private readonly keepMs = BURST_WINDOW_MAX_MS) {}

  record(now: number): void {
    this.at.push(now);
    this.prune(now);
  }

  /** Events within the last `windowMs` (at most the keep period), as of `now`. */
  count(now: number, windowMs: number): number {
    this.prune(now);
    let n = 0;
    for (let i = this.at.length - 1; i >= this.head && this.at[i] > now - windowMs; i--) n++;
    return n;
  }

  /** Events per second over the last `windowMs` (the count over the whole window, never a shorter span). */
  ratePerSec(now: number, windowMs: number): number {
    return windowMs > 0 ? (this.count(now, windowMs) * 1000) / windowMs : 0;
  }

  private prune(now: number): void {
    while (this.head < this.at.length && this.at[this.head] <= now - this.keepMs) this.head++;
    if (this.head > 64 && this.head * 2 > this.at.length) {
      this.at = this.at.slice(this.head);
      this.head = 0;
    }
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
  /** The requests themselves (windows up to BURST_WINDOW_MAX_MS): also the core's recent ADD rate. */
  readonly recent = new RecentEvents();
  /** Monotonic (decreasing count) queue of (time, count) for the sliding maximum. */
  private peaks: { at: number; count: number }[] = [];

  record(now: number, windowMs: number): void {
    this.recent.record(now);
    const count = this.recent.count(now, windowMs);
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
