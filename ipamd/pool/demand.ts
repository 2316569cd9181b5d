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

/** EWMA of a latency; the first sample replaces the prior. */
export function ewma(prev: number | undefined, sample: number, alpha = 0.3): number {
  return prev === undefined ? sample : prev + alpha * (sample - prev);
}
