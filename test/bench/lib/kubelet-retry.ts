// How the kubelet retries a pod whose sandbox failed to start (FailedCreatePodSandBox), so that "time
// until every pod has its address" is defined for the incumbent, whose ADD fails at once on an empty
// pool (reference aws-vpc-cni.md 3.8). Read in kubernetes v1.37.2 pkg/kubelet: a failed sync is requeued by
// podWorkers.completeWork after wait.Jitter(backOffPeriod, workerBackOffPeriodJitterFactor), with
// backOffPeriod = 10 s (kubelet.go) and the factor 0.5 (pod_workers.go), so 10–15 s (apimachinery
// wait.Jitter: d + random × 0.5 × d); the work queue is then read by the sync loop on its 1 s syncTicker
// (kubelet.go syncLoop, getPodsToSync), so the retry starts on the first tick after that.
import type { Clock } from '../../../providers/clock.js';

export const KUBELET_BACKOFF_MS = 10_000;
export const KUBELET_JITTER = 0.5;
export const KUBELET_SYNC_TICK_MS = 1000;

export interface PodStart {
  /** Clock time the pod's ADD finally succeeded; undefined when it never did. */
  readyAt?: number;
  attempts: number;
  failures: number;
  lastError?: string;
}

export interface RetryOptions {
  clock: Clock;
  rand: () => number;
  /** Stop retrying once this much time has passed since the first attempt. */
  giveUpMs: number;
  /** Set to true to stop retrying (the pod was deleted). */
  cancelled?: () => boolean;
  backoffMs?: number;
  jitter?: number;
  /** The sync loop's tick (default 1 s) and where this kubelet's ticks fall in it (default 0). */
  tickMs?: number;
  tickPhaseMs?: number;
  onFailure?: (err: Error) => void;
}

/** Runs `add` until it succeeds, waiting the kubelet's jittered backoff after each failure. */
export async function startLikeKubelet(add: () => Promise<void>, o: RetryOptions): Promise<PodStart> {
  const start = o.clock.now();
  const backoff = o.backoffMs ?? KUBELET_BACKOFF_MS;
  const jitter = o.jitter ?? KUBELET_JITTER;
  const r: PodStart = { attempts: 0, failures: 0 };
  for (;;) {
    if (o.cancelled?.()) return r;
    r.attempts++;
    try {
      await add();
      r.readyAt = o.clock.now();
      return r;
    } catch (err) {
      r.failures++;
      r.lastError = (err as Error).message;
      o.onFailure?.(err as Error);
    }
    const wait = retryDelayMs(o.clock.now(), backoff * (1 + jitter * o.rand()), o);
    if (o.clock.now() + wait - start > o.giveUpMs) return r;
    await o.clock.sleep(wait);
  }
}

/** From `now`, the wait until the first sync tick at or after `now + backoffMs`. */
export function retryDelayMs(
  now: number,
  backoffMs: number,
  o: { tickMs?: number; tickPhaseMs?: number } = {},
): number {
  const tick = o.tickMs ?? KUBELET_SYNC_TICK_MS;
  if (tick <= 0) return backoffMs;
  const phase = o.tickPhaseMs ?? 0;
  const due = now + backoffMs;
  return phase + Math.ceil((due - phase) / tick) * tick - now;
}
