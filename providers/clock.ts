// Time is injected everywhere (pool engine, reconciler, sim cloud), so the same code runs on the real
// clock in the daemon and on a virtual clock in tests and benchmarks.

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * A virtual clock: time moves only when advanced. sleep() resolves when the clock passes its deadline.
 * advance() lets promise continuations run between timers, so code awaiting several sleeps in a row
 * behaves as it would on the real clock.
 */
export class VirtualClock implements Clock {
  private t: number;
  private timers: { at: number; seq: number; resolve: () => void }[] = [];
  private seq = 0;

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timers.push({ at: this.t + Math.max(0, ms), seq: this.seq++, resolve });
    });
  }

  /** Number of sleepers waiting. */
  get pending(): number {
    return this.timers.length;
  }

  /** Advances time by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flushMicrotasks();
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    this.t = end;
    await flushMicrotasks();
  }

  /** Advances to the next timer (if any) and fires it. Returns false when no timer is pending. */
  async step(): Promise<boolean> {
    await flushMicrotasks();
    this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = this.timers[0];
    if (!next) return false;
    await this.advance(next.at - this.t);
    return true;
  }
}

export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
