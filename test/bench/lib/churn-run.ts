// One churn run in virtual time: the daemon's real core (IpamCore: pool engine, reconciler, budget,
// SQLite store) on the in-process sim cloud with realistic EC2 latency and throttling, all on one
// VirtualClock, driven by a generated workload. Measures what the node holds idle, how long pods wait
// for an address (kubelet-style retries included when an ADD fails), and the cloud calls made.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../../../config/settings.js';
import { IpamCore } from '../../../ipamd/core/core.js';
import { StateStore } from '../../../ipamd/state/store.js';
import { VirtualClock } from '../../../providers/clock.js';
import { createSimNode } from '../../../providers/sim/inprocess.js';
import type { ChurnEvent } from './churn-workload.js';
import { rng } from './churn-workload.js';
import { startLikeKubelet } from './kubelet-retry.js';

export interface ChurnRunOptions {
  name: string;
  env: Record<string, string>;
  instanceType: string;
  events: ChurnEvent[];
  durationMs: number;
  /** Virtual time the node runs before the workload starts (the pool settles). */
  warmupMs: number;
  seed: number;
}

export interface ChurnRunResult {
  name: string;
  /** ∫ (held − assigned) dt over the run, in address-hours. */
  idleAddressHours: number;
  /** ∫ held dt, in address-hours. */
  heldAddressHours: number;
  maxHeld: number;
  /** Wait of every pod from its creation until its ADD succeeded, ms (0 on a warm pool). */
  waitsMs: number[];
  failedAdds: number;
  /** Failed ADDs by error class (PoolEmptyError, NodeFullError, PoolWaitTimeoutError). */
  failReasons: Record<string, number>;
  podsNeverAddressed: number;
  cloudCalls: Record<string, number>;
  /** One sample a second from the workload's start (t in ms since then): for the plots. */
  series: ChurnSample[];
}

export interface ChurnSample {
  t: number;
  /** Addresses the node holds (assigned, free and cooling). */
  held: number;
  /** Addresses assigned to pods. */
  assigned: number;
  /**
   * Pods that waited for an address at some moment of the second that ends at t (from their creation
   * until their ADD succeeded, or until they were deleted): a wait shorter than the sample still shows.
   */
  waiting: number;
}

const SAMPLE_MS = 1000;

/**
 * Sets each sample's `waiting`: the waits [from, to) that overlap its interval (t − sampleMs, t], so that
 * a wait shorter than the sample still counts in the sample it falls in. A wait of zero length counts
 * nowhere.
 */
export function countWaiting(
  samples: { t: number; waiting: number }[],
  waits: { from: number; to: number }[],
  sampleMs: number,
): void {
  for (const p of samples) p.waiting = 0;
  for (const w of waits)
    if (w.to > w.from) for (const p of samples) if (w.from < p.t && w.to > p.t - sampleMs) p.waiting++;
}

export async function runChurn(o: ChurnRunOptions): Promise<ChurnRunResult> {
  const clock = new VirtualClock();
  const { cloud, provider } = createSimNode({
    clock,
    seed: o.seed,
    latency: 'realistic',
    throttle: true,
    instanceType: o.instanceType,
  });
  const settings = loadSettings({ TIDEPOOL_PROVIDER: 'sim', ...o.env });
  const dir = mkdtempSync(join(tmpdir(), 'tp-demo-churn-'));
  const store = StateStore.open(join(dir, 'state.db'), () => clock.now());
  const core = new IpamCore({ settings, provider, store, clock, budget: { random: rng(o.seed + 1) } });
  try {
    let started = false;
    const startP = core.start().then(() => (started = true));
    while (!started) await clock.advance(100);
    await startP;
    await clock.advance(o.warmupMs);
    cloud.resetCallLog();

    const t0 = clock.now();
    const r: ChurnRunResult = {
      name: o.name,
      idleAddressHours: 0,
      heldAddressHours: 0,
      maxHeld: 0,
      waitsMs: [],
      failedAdds: 0,
      failReasons: {},
      podsNeverAddressed: 0,
      cloudCalls: {},
      series: [],
    };
    const deleted = new Set<string>();
    const allocated = new Set<string>();
    // Each wait, from the pod's creation until its ADD succeeded (or it was deleted or given up).
    const waitSpans: { from: number; to: number }[] = [];
    const deletedAt = new Map<string, number>();
    const pending: Promise<void>[] = [];
    const rand = rng(o.seed + 2);
    const key = (pod: string) => ({ network: 'tidepool', containerId: pod, ifname: 'eth0' });

    const startPod = (e: ChurnEvent) => {
      const createdAt = clock.now();
      const pod = { namespace: 'default', name: e.pod, uid: e.pod, netns: `/var/run/netns/${e.pod}` };
      pending.push(
        startLikeKubelet(() => core.allocate(key(e.pod), pod).then(() => undefined), {
          clock,
          rand,
          giveUpMs: 10 * 60_000,
          cancelled: () => deleted.has(e.pod),
          onFailure: (err) => {
            r.failedAdds++;
            const why = err.constructor.name;
            r.failReasons[why] = (r.failReasons[why] ?? 0) + 1;
          },
        }).then(async (s) => {
          const end = s.readyAt ?? deletedAt.get(e.pod) ?? clock.now();
          if (end > createdAt) waitSpans.push({ from: createdAt - t0, to: end - t0 });
          if (s.readyAt === undefined) {
            if (!deleted.has(e.pod)) r.podsNeverAddressed++;
            return;
          }
          r.waitsMs.push(s.readyAt - createdAt);
          allocated.add(e.pod);
          // Deleted while its ADD was in flight: the runtime's DEL releases it now.
          if (deleted.has(e.pod)) await release(e.pod);
        }),
      );
    };
    const release = async (pod: string) => {
      if (!allocated.delete(pod)) return;
      await core.release(key(pod), 'cni-del');
    };
    const sample = () => {
      const s = core.status();
      r.series.push({ t: clock.now() - t0, held: s.total, assigned: s.assigned, waiting: 0 });
      r.idleAddressHours += ((s.total - s.assigned) * SAMPLE_MS) / 3_600_000;
      r.heldAddressHours += (s.total * SAMPLE_MS) / 3_600_000;
      r.maxHeld = Math.max(r.maxHeld, s.total);
    };

    let i = 0;
    for (let t = 0; t < o.durationMs; t += SAMPLE_MS) {
      // Events of [t, t + SAMPLE_MS): each at its own instant.
      while (i < o.events.length && o.events[i].at < t + SAMPLE_MS) {
        const e = o.events[i++];
        const due = t0 + e.at;
        if (due > clock.now()) await clock.advance(due - clock.now());
        if (e.op === 'add') startPod(e);
        else {
          deleted.add(e.pod);
          deletedAt.set(e.pod, clock.now());
          await release(e.pod);
        }
      }
      const next = t0 + t + SAMPLE_MS;
      if (next > clock.now()) await clock.advance(next - clock.now());
      sample();
    }
    // Pods still waiting at the end: give them the time they need (not counted in the held figures).
    for (let k = 0; k < 600 && (await settledCount(pending)) < pending.length; k++) await clock.advance(1000);
    for (const [action, st] of Object.entries(cloud.callStats())) r.cloudCalls[action] = st.calls;
    countWaiting(r.series, waitSpans, SAMPLE_MS);
    return r;
  } finally {
    const stopP = core.stop();
    for (let k = 0; k < 600; k++) {
      const done = await Promise.race([stopP.then(() => true), clock.advance(1000).then(() => false)]);
      if (done) break;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function settledCount(ps: Promise<void>[]): Promise<number> {
  let n = 0;
  await Promise.all(ps.map((p) => Promise.race([p.then(() => n++), Promise.resolve()])));
  return n;
}
