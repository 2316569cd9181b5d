// One fleet run in virtual time (issue 14): N daemons — each the real IpamCore (pool engine, reconciler,
// budget, SQLite store in memory) — on one VirtualClock and one in-process SimCloud, that is one account
// with EC2's per-action token buckets and the realistic latency distributions (providers/sim/actions.ts),
// and one shared subnet of a given size. Node n launches at joins[n]; as soon as its daemon is ready it
// gets its pods, each started like the kubelet does (a failed ADD is retried after 10–15 s, on its
// next 1 s sync tick).
import { loadSettings } from '../../../config/settings.js';
import type { BudgetOptions } from '../../../ipamd/cloud/budget.js';
import { IpamCore } from '../../../ipamd/core/core.js';
import { StateStore } from '../../../ipamd/state/store.js';
import { VirtualClock } from '../../../providers/clock.js';
import { SimCloud } from '../../../providers/sim/cloud.js';
import { InProcessSimProvider } from '../../../providers/sim/inprocess.js';
import type { Provider } from '../../../providers/types.js';
import { rng, type ChurnEvent } from './churn-workload.js';
import { startLikeKubelet } from './kubelet-retry.js';

export interface FleetMode {
  name: string;
  env: Record<string, string>;
  /** Budget options of node n (the shared broker, the SDK's retry quota, ...). */
  budget: (n: number) => Partial<Omit<BudgetOptions, 'clock' | 'observer'>>;
  /** Node n's provider (default: the sim's own, Tidepool's EC2 sequence); the incumbent brings its own. */
  provider?: (cloud: SimCloud, instanceId: string, n: number) => Provider;
}

export interface FleetRunOptions {
  mode: FleetMode;
  seed: number;
  instanceType: string;
  podsPerNode: number;
  /** Join time of every node, ms from the start. */
  joins: number[];
  /** The one subnet of the fleet (in 10.0.0.0/16). */
  subnetCidr: string;
  /** Addresses of the subnet taken by others before the start (so that it holds what the run wants). */
  occupied: number;
  durationMs: number;
  sampleMs: number;
  /** Called with the run's clock before any node joins (to build what the mode shares, e.g. the broker). */
  onClock?: (clock: VirtualClock) => void;
  /**
   * A steady-churn phase after the scale-out: node n replays events(n) (the churn bench's generator; `at`
   * from the phase's start) from startMs on, on top of its scale-out pods, for durationMs.
   */
  churn?: { startMs: number; durationMs: number; events: (n: number) => ChurnEvent[] };
}

/** Figures of the churn phase alone. */
export interface FleetChurnResult {
  /** Each churn pod's wait from its creation to its address, ms (pods deleted before it are left out). */
  waitsMs: number[];
  /** Churn pods created, and those still without an address at the end of the phase. */
  pods: number;
  notStarted: number;
  failedAdds: number;
  failReasons: Record<string, number>;
  calls: number;
  throttled: number;
  callsByAction: Record<string, number>;
  idleAddressHours: number;
}

export interface FleetSample {
  t: number;
  held: number;
  assigned: number;
  waiting: number;
}

export interface FleetRunResult {
  mode: string;
  /** When each addressed pod got its address, ms from the start. */
  addressedAt: number[];
  /** Each addressed pod's wait from its creation, ms. */
  waitsMs: number[];
  /**
   * Each addressed pod's time from its node's launch to its address, ms: the node's wait for the CNI to be
   * ready plus the pod's wait, without the spread of the launches (the autoscaler's, not the CNI's).
   */
  fromLaunchMs: number[];
  /** Each launched node's time from its launch until its daemon was ready (pods scheduled), ms. */
  readyAfterLaunchMs: number[];
  failedAdds: number;
  failReasons: Record<string, number>;
  /** Pods without an address at the end of the run (those of nodes that could not launch included). */
  notStarted: number;
  /** Nodes that could not launch (no address left in the subnet for their primary interface). */
  launchFailed: number;
  launchError?: string;
  calls: number;
  throttled: number;
  callsByAction: Record<string, number>;
  /** Over the scale-out (until the churn phase starts, or the whole run without one). */
  idleAddressHours: number;
  series: FleetSample[];
  churn?: FleetChurnResult;
  realMs: number;
}

const START = 1_700_000_000_000;
/** No client-side limit: the incumbent and the broker have none of Tidepool's per-node buckets. */
export const NO_CLIENT_BUCKETS = {
  describe: { capacity: 1e9, refillPerSec: 1e9 },
  addresses: { capacity: 1e9, refillPerSec: 1e9 },
  interfaces: { capacity: 1e9, refillPerSec: 1e9 },
};

export async function runFleet(o: FleetRunOptions): Promise<FleetRunResult> {
  const real0 = Date.now();
  const clock = new VirtualClock(START);
  const cloud = new SimCloud({
    clock,
    seed: o.seed,
    latency: 'realistic',
    throttle: true,
    vpcCidr: '10.0.0.0/16',
    subnets: [{ cidr: o.subnetCidr, zone: 'us-east-1a', id: 'subnet-fleet' }],
    callLogSize: 1000,
  });
  if (o.occupied > 0) {
    const pool = cloud.topology.pools.get('subnet-fleet')!;
    if (!pool.allocate(o.occupied, cloud.rng))
      throw new Error(`fleet: subnet ${o.subnetCidr} has fewer than ${o.occupied} addresses to occupy`);
  }
  o.onClock?.(clock);
  const settings = loadSettings({ TIDEPOOL_PROVIDER: 'sim', ...o.mode.env });
  const cores: IpamCore[] = [];
  const r: FleetRunResult = {
    mode: o.mode.name,
    addressedAt: [],
    waitsMs: [],
    fromLaunchMs: [],
    readyAfterLaunchMs: [],
    failedAdds: 0,
    failReasons: {},
    notStarted: 0,
    launchFailed: 0,
    calls: 0,
    throttled: 0,
    callsByAction: {},
    idleAddressHours: 0,
    series: [],
    realMs: 0,
  };
  let waiting = 0;
  let ended = false;
  const churnEnd = o.churn ? o.churn.startMs + o.churn.durationMs : Infinity;
  const inChurn = (t: number) =>
    o.churn !== undefined && t >= START + o.churn.startMs && t < START + churnEnd;
  const churn: FleetChurnResult | undefined = o.churn
    ? {
        waitsMs: [],
        pods: 0,
        notStarted: 0,
        failedAdds: 0,
        failReasons: {},
        calls: 0,
        throttled: 0,
        callsByAction: {},
        idleAddressHours: 0,
      }
    : undefined;
  const coreOf = new Map<number, IpamCore>();
  const rand = rng(o.seed + 7);
  const key = (pod: string) => ({ network: 'tidepool', containerId: pod, ifname: 'eth0' });
  const pending: Promise<void>[] = [];

  const join = (n: number) => {
    const launchedAt = clock.now();
    let inst;
    try {
      inst = cloud.launchInstance({
        instanceType: o.instanceType,
        instanceId: `i-node${n}`,
        subnetId: 'subnet-fleet',
      });
    } catch (err) {
      // The subnet had no address left for the node's own primary interface: it never starts.
      r.launchFailed++;
      r.launchError = (err as Error).message;
      return;
    }
    const provider =
      o.mode.provider?.(cloud, inst.id, n) ?? new InProcessSimProvider({ cloud, instanceId: inst.id });
    const store = StateStore.open(':memory:', () => clock.now(), { checkpointMs: 1e9 });
    const core = new IpamCore({
      settings,
      provider,
      store,
      clock,
      budget: { random: rng(o.seed * 1000 + n), ...o.mode.budget(n) },
    });
    cores.push(core);
    const tickPhaseMs = Math.floor(rand() * 1000); // where this node's kubelet sync ticks fall
    pending.push(
      core.start().then(() => {
        // The node is Ready: the scheduler gives it its pods at once.
        r.readyAfterLaunchMs.push(clock.now() - launchedAt);
        for (let k = 0; k < o.podsPerNode; k++) {
          const name = `n${n}-p${k}`;
          const createdAt = clock.now();
          waiting++;
          const pod = { namespace: 'default', name, uid: name, netns: `/var/run/netns/${name}` };
          pending.push(
            startLikeKubelet(() => core.allocate(key(name), pod).then(() => undefined), {
              clock,
              rand,
              giveUpMs: o.durationMs,
              tickPhaseMs,
              cancelled: () => ended,
              onFailure: (err) => {
                if (ended) return; // the run is over: the daemons are stopping
                r.failedAdds++;
                const why = err.constructor.name;
                r.failReasons[why] = (r.failReasons[why] ?? 0) + 1;
              },
            }).then((s) => {
              if (s.readyAt === undefined) return;
              waiting--;
              r.addressedAt.push(s.readyAt - START);
              r.waitsMs.push(s.readyAt - createdAt);
              r.fromLaunchMs.push(s.readyAt - launchedAt);
            }),
          );
        }
      }),
    );
    coreOf.set(n, core);
    phases.set(n, tickPhaseMs);
  };

  // The churn phase: pods of node n created and deleted as its workload says.
  const phases = new Map<number, number>();
  const deleted = new Set<string>();
  const allocated = new Set<string>();
  const churnAdd = (n: number, name: string) => {
    const core = coreOf.get(n);
    if (!core || !churn) return;
    const createdAt = clock.now();
    churn.pods++;
    waiting++;
    churnPending.add(name);
    const pod = { namespace: 'default', name, uid: name, netns: `/var/run/netns/${name}` };
    pending.push(
      startLikeKubelet(() => core.allocate(key(name), pod).then(() => undefined), {
        clock,
        rand,
        giveUpMs: o.durationMs,
        tickPhaseMs: phases.get(n),
        cancelled: () => ended || deleted.has(name),
        onFailure: (err) => {
          if (ended || !inChurn(clock.now())) return;
          churn.failedAdds++;
          const why = err.constructor.name;
          churn.failReasons[why] = (churn.failReasons[why] ?? 0) + 1;
        },
      }).then(async (s) => {
        waiting--;
        churnPending.delete(name);
        if (s.readyAt === undefined) return;
        churn.waitsMs.push(s.readyAt - createdAt);
        allocated.add(name);
        // Deleted while its ADD was in flight: the runtime's DEL releases it now.
        if (deleted.has(name)) await churnDel(n, name);
      }),
    );
  };
  const churnPending = new Set<string>();
  const churnDel = async (n: number, name: string) => {
    deleted.add(name);
    churnPending.delete(name);
    if (!allocated.delete(name)) return;
    await coreOf.get(n)?.release(key(name), 'cni-del');
  };
  const churnEvents = o.churn
    ? o.joins
        .flatMap((_, n) => o.churn!.events(n).map((e) => ({ at: o.churn!.startMs + e.at, n, e })))
        .filter((x) => x.at < churnEnd)
        .sort((a, b) => a.at - b.at || a.n - b.n)
    : [];
  let nextChurn = 0;
  let churnCalls0: ReturnType<typeof cloud.callStats> | undefined;
  let churnCallsEnd: ReturnType<typeof cloud.callStats> | undefined;
  const copyStats = () => structuredClone(cloud.callStats());

  const order = o.joins.map((at, n) => ({ at, n })).sort((a, b) => a.at - b.at || a.n - b.n);
  let next = 0;
  for (let t = 0; t < o.durationMs; t += o.sampleMs) {
    if (o.churn && t === o.churn.startMs) churnCalls0 = copyStats();
    if (o.churn && t === churnEnd) {
      churnCallsEnd = copyStats();
      if (churn) churn.notStarted = churnPending.size;
    }
    while (next < order.length && order[next].at < t + o.sampleMs) {
      const due = START + order[next].at;
      if (due > clock.now()) await clock.advance(due - clock.now());
      join(order[next++].n);
    }
    while (nextChurn < churnEvents.length && churnEvents[nextChurn].at < t + o.sampleMs) {
      const { at, n, e } = churnEvents[nextChurn++];
      const due = START + at;
      if (due > clock.now()) await clock.advance(due - clock.now());
      const name = `n${n}-${e.pod}`;
      if (e.op === 'add') churnAdd(n, name);
      else await churnDel(n, name);
    }
    const end = START + t + o.sampleMs;
    if (end > clock.now()) await clock.advance(end - clock.now());
    let held = 0;
    let assigned = 0;
    for (const c of cores) {
      const s = c.status();
      held += s.total;
      assigned += s.assigned;
    }
    const idle = ((held - assigned) * o.sampleMs) / 3_600_000;
    if (!o.churn || t < o.churn.startMs) r.idleAddressHours += idle;
    else if (churn && t < churnEnd) churn.idleAddressHours += idle;
    r.series.push({ t: t + o.sampleMs, held, assigned, waiting });
  }
  if (churn && churnCalls0) {
    if (!churnCallsEnd) churn.notStarted = churnPending.size;
    const endStats = churnCallsEnd ?? cloud.callStats();
    for (const [action, st] of Object.entries(endStats)) {
      if (action.includes(':')) continue;
      const before = churnCalls0[action] ?? { calls: 0, throttled: 0 };
      churn.calls += st.calls - before.calls;
      churn.throttled += st.throttled - before.throttled;
      churn.callsByAction[action] = st.calls - before.calls;
    }
    r.churn = churn;
  }
  r.notStarted = o.joins.length * o.podsPerNode - r.addressedAt.length;
  // The scale-out's calls: until the churn phase begins (the whole run without one).
  for (const [action, st] of Object.entries(churnCalls0 ?? cloud.callStats())) {
    if (action.includes(':')) continue; // the unfiltered-Describe bucket keys repeat their action's calls
    r.calls += st.calls;
    r.throttled += st.throttled;
    r.callsByAction[action] = st.calls;
  }
  ended = true;
  const stopping = Promise.all(cores.map((c) => c.stop()));
  let stopped = false;
  void stopping.then(() => (stopped = true));
  for (let k = 0; k < 600 && !stopped; k++) await clock.advance(1000);
  await stopping;
  void Promise.allSettled(pending);
  r.realMs = Date.now() - real0;
  return r;
}
