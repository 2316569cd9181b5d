// Pod churn on one node, as a list of timed create/delete events, from a seeded generator so that every
// mode and policy in a benchmark run sees exactly the same workload.
//
// The rates follow cloud-api-figures.md section 6:
// - steady churn: Poisson arrivals at 0.1–0.5 pods/s per node (ClusterLoader2's 10 pods/s cluster-wide
//   on 100 nodes is 0.1/s per node; we default to 0.2/s), exponential lifetimes;
// - HPA scale-ups: a Deployment grows by max(+4, ×2) every 15 s (HPA defaults), holds, and after the
//   300 s stabilization window shrinks by 100 % per 15 s;
// - CronJobs: bursts of short-lived pods that start at minute boundaries.
// Creations beyond the node's max pods are dropped (the scheduler would not place them) and counted.

import { uniform } from '../../../providers/sim/random.js';

export type ChurnCause = 'steady' | 'hpa' | 'cron';

export interface ChurnEvent {
  /** Milliseconds from the start of the run. */
  at: number;
  op: 'add' | 'del';
  pod: string;
  cause: ChurnCause;
}

export interface ChurnOptions {
  durationMs: number;
  seed: number;
  /** Pods the node may run at once (max pods minus the host-network DaemonSets). */
  maxPods: number;
  /** Steady arrivals per second. */
  steadyRate: number;
  /** Mean lifetime of a steady pod, ms. */
  steadyLifetimeMs: number;
  /** Mean time between HPA scale-up episodes, ms. */
  hpaEveryMs: number;
  /** Replicas on this node before a scale-up, and the number of doublings per episode. */
  hpaBase: number;
  hpaDoublings: number;
  /** How long the scaled-up Deployment stays at its peak before the stabilization window starts. */
  hpaHoldMs: number;
  /** Probability that a CronJob burst fires at a given minute boundary, its size range and run time. */
  cronProbability: number;
  cronSize: [number, number];
  cronRunMs: [number, number];
}

export const defaultChurn: ChurnOptions = {
  durationMs: 30 * 60_000,
  seed: 42,
  maxPods: 27,
  steadyRate: 0.2,
  steadyLifetimeMs: 45_000,
  hpaEveryMs: 8 * 60_000,
  hpaBase: 3,
  hpaDoublings: 3,
  hpaHoldMs: 60_000,
  cronProbability: 0.3,
  cronSize: [4, 12],
  cronRunMs: [20_000, 45_000],
};

export interface ChurnWorkload {
  events: ChurnEvent[];
  /** Creations dropped because the node was at max pods. */
  dropped: number;
  counts: Record<ChurnCause, number>;
}

/** The seeded generator of the sim (mulberry32): a workload is replayed exactly from its seed. */
export const rng = uniform;

export function generateChurn(partial: Partial<ChurnOptions> = {}): ChurnWorkload {
  const o = { ...defaultChurn, ...partial };
  const rand = rng(o.seed);
  const exp = (mean: number) => -Math.log(1 - rand()) * mean;
  const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
  // Wanted lifetimes: [start, end) per pod, before the max-pods cap is applied.
  const wanted: { start: number; end: number; cause: ChurnCause }[] = [];

  for (let t = exp(1000 / o.steadyRate); t < o.durationMs; t += exp(1000 / o.steadyRate))
    wanted.push({ start: t, end: t + exp(o.steadyLifetimeMs), cause: 'steady' });

  for (let t = exp(o.hpaEveryMs); t < o.durationMs; t += exp(o.hpaEveryMs)) {
    // From hpaBase replicas, double (at least +4) every 15 s, hold, then after 300 s of stabilization
    // halve every 15 s back to the base. Each added replica is one pod with its own lifetime.
    let replicas = o.hpaBase;
    const peakAt = t + o.hpaDoublings * 15_000;
    const shrinkAt = peakAt + o.hpaHoldMs + 300_000;
    const sizes: number[] = [replicas];
    for (let i = 0; i < o.hpaDoublings; i++) sizes.push((replicas = Math.max(replicas + 4, replicas * 2)));
    const peak = replicas;
    const removalTimes: number[] = [];
    for (let size = peak, step = 0; size > o.hpaBase; step++) {
      const next = Math.max(o.hpaBase, Math.floor(size / 2));
      for (let k = 0; k < size - next; k++) removalTimes.push(shrinkAt + step * 15_000);
      size = next;
    }
    let added = 0;
    for (let i = 1; i < sizes.length; i++) {
      for (let k = 0; k < sizes[i] - sizes[i - 1]; k++) {
        const end = removalTimes[removalTimes.length - 1 - added] ?? shrinkAt;
        wanted.push({ start: t + (i - 1) * 15_000, end, cause: 'hpa' });
        added++;
      }
    }
  }

  for (let minute = 60_000; minute < o.durationMs; minute += 60_000) {
    if (rand() >= o.cronProbability) continue;
    const size = Math.round(between(o.cronSize[0], o.cronSize[1]));
    for (let k = 0; k < size; k++)
      wanted.push({ start: minute, end: minute + between(o.cronRunMs[0], o.cronRunMs[1]), cause: 'cron' });
  }

  return schedule(wanted, o);
}

function schedule(
  wanted: { start: number; end: number; cause: ChurnCause }[],
  o: ChurnOptions,
): ChurnWorkload {
  wanted.sort((a, b) => a.start - b.start);
  const events: ChurnEvent[] = [];
  const live: number[] = []; // end times of pods placed so far
  const counts: Record<ChurnCause, number> = { steady: 0, hpa: 0, cron: 0 };
  let dropped = 0;
  let n = 0;
  for (const w of wanted) {
    for (let i = live.length - 1; i >= 0; i--) if (live[i] <= w.start) live.splice(i, 1);
    if (live.length >= o.maxPods) {
      dropped++;
      continue;
    }
    const pod = `${w.cause}-${++n}`;
    live.push(w.end);
    counts[w.cause]++;
    events.push({ at: Math.round(w.start), op: 'add', pod, cause: w.cause });
    if (w.end < o.durationMs) events.push({ at: Math.round(w.end), op: 'del', pod, cause: w.cause });
  }
  // Deletes before adds at the same instant, so a pod ending frees its slot for the one starting.
  events.sort((a, b) => a.at - b.at || (a.op === b.op ? 0 : a.op === 'del' ? -1 : 1));
  return { events, dropped, counts };
}
