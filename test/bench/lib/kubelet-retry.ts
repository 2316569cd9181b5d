// How the kubelet retries a pod whose sandbox failed to start (FailedCreatePodSandBox), so that "time
// until every pod has its address" is defined for the incumbent, whose ADD fails at once on an empty
// pool (reference aws-vpc-cni.md 3.8). The reference leaves the exact cadence unverified; we use the
// kubelet's pod-worker backoff as read in kubernetes/kubernetes pkg/kubelet: a failed sync is requeued
// after backOffPeriod = 10 s, jittered by workerBackOffPeriodJitterFactor = 0.5 (so 10–15 s).
import type { Clock } from '../../../providers/clock.js';

export const KUBELET_BACKOFF_MS = 10_000;
export const KUBELET_JITTER = 0.5;

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
    const wait = backoff * (1 + jitter * o.rand());
    if (o.clock.now() + wait - start > o.giveUpMs) return r;
    await o.clock.sleep(wait);
  }
}
