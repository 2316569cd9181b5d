// Seeded randomness for the sim: the same seed gives the same ids, addresses and latencies, so a failing
// test or a benchmark run can be replayed exactly. mulberry32 is small, fast and good enough for this.

export class SeededRandom {
  constructor(private state: number) {
    this.state = state >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  hex(digits: number): string {
    let s = '';
    while (s.length < digits) s += this.int(0x10000).toString(16).padStart(4, '0');
    return s.slice(0, digits);
  }

  /** Saved with the cloud's state so a restarted server continues the same sequence. */
  get seed(): number {
    return this.state;
  }
}

/** The same generator as a function returning numbers in [0, 1): for jitter, faults and workloads. */
export function uniform(seed: number): () => number {
  const r = new SeededRandom(seed);
  return () => r.next();
}
