// SimCloud: an embedded cloud with EC2 semantics (ARCHITECTURE section 6, issue 2 Build item 3).
// One SimCloud = one AWS account + Region + VPC: every instance it hosts shares its subnets and its
// per-action throttling buckets, as nodes of one cluster share them in EC2.
//
// Each EC2 action (async) goes through run(): token bucket (RequestLimitExceeded), injected faults,
// latency drawn from the action's lognormal (slept on the injected Clock), then the effect, applied at
// the end of the latency as a real API applies it when it answers. Admin calls (launch, terminate,
// snapshot, faults) are synchronous and free. Figures and their sources: ./actions.ts.

import { CloudError, ThrottledError } from '../errors.js';
import type { Clock } from '../clock.js';
import { realClock } from '../clock.js';
import {
  DEFAULT_BUCKETS,
  REALISTIC_DETACH_MS,
  REALISTIC_LATENCY,
  REALISTIC_THROTTLE_REJECT_MS,
  type BucketSpec,
  type Ec2Action,
  type LatencyProfile,
} from './actions.js';
import { drawFault, faultError, validateFaults, type FaultPlan } from './faults.js';
import type { CallRecord, CallStats, InstanceRecord, SimEvent, SimEventBody, SimStateJson } from './model.js';
import { SeededRandom } from './random.js';
import { TokenBucket } from './throttle.js';
import { SimTopology, type SubnetSpec } from './topology.js';

export type { SubnetSpec } from './topology.js';
import { Ec2Actions } from './ec2.js';
import type { InstanceView, InterfaceView, SubnetView } from './model.js';
import { describeInstance, describeInterface, describeSubnet } from './views.js';

export interface SimInspection {
  region: string;
  vpc: { id: string; cidr: string };
  subnets: SubnetView[];
  instances: InstanceView[];
  interfaces: InterfaceView[];
  /** Seq of the last event emitted: GET /events?since=<eventSeq> continues from this state without a gap. */
  eventSeq: number;
}

export interface SimCloudOptions {
  /** Default realClock; pass a VirtualClock for virtual-time tests and benchmarks. */
  clock?: Clock;
  /** Seeds ids, MACs, address picks, latencies and probabilistic faults. Default 1. */
  seed?: number;
  region?: string;
  /** Default 10.0.0.0/16. */
  vpcCidr?: string;
  /** Default: one /20 per zone (10.0.0.0/20, 10.0.16.0/20, …). A small one (e.g. /28) runs out fast. */
  subnets?: SubnetSpec[];
  /** Zones for the default subnets; default us-east-1a, us-east-1b, us-east-1c. */
  zones?: string[];
  /** 'none' (default): no delay. 'realistic': section 7 lognormals. Or a profile (unlisted actions: 0). */
  latency?: 'none' | 'realistic' | LatencyProfile;
  /** Multiplies every latency (e.g. 0.1 for a fast lab that keeps the shape). Default 1. */
  latencyScale?: number;
  /** true (default): section 1.3 buckets. false: no throttling. Object: overrides per bucket key. */
  throttle?: boolean | Record<string, BucketSpec>;
  /** How long a change takes to show in Describe* (section 7: 1 s). Default 0. */
  visibilityLagMs?: number;
  /** Detach → delete allowed window ("in use" before). Default 3000 with realistic latency, else 0. */
  detachMs?: number;
  faults?: FaultPlan;
  /** Calls kept in the call log ring (counters are kept for all calls). Default 10000. */
  callLogSize?: number;
  /** Restores a snapshot (toJSON()); topology options are then ignored. */
  state?: SimStateJson;
}

type Listener = (e: SimEvent) => void;

export class SimCloud {
  readonly clock: Clock;
  readonly rng: SeededRandom;
  readonly topology: SimTopology;
  /** The EC2 actions (DescribeNetworkInterfaces, AssignPrivateIpAddresses, …) as typed methods. */
  readonly ec2: Ec2Actions;
  /** Increments on every change of cloud state (the server persists when it moves). */
  version = 0;

  private latency: LatencyProfile;
  private latencyScale: number;
  private rejectMs: number;
  private bucketSpecs: Record<string, BucketSpec> | undefined;
  private buckets = new Map<string, TokenBucket>();
  private faults: FaultPlan;
  private listeners = new Set<Listener>();
  private eventSeq = 0;
  private callSeq = 0;
  private log: CallRecord[] = [];
  private logSize: number;
  private stats = new Map<string, CallStats>();

  constructor(opts: SimCloudOptions = {}) {
    this.clock = opts.clock ?? realClock;
    const st = opts.state;
    this.rng = new SeededRandom(st ? st.rng : (opts.seed ?? 1));
    const realistic = opts.latency === 'realistic';
    const lat = opts.latency ?? 'none';
    this.latency = lat === 'realistic' ? REALISTIC_LATENCY : lat === 'none' ? {} : lat;
    this.latencyScale = opts.latencyScale ?? 1;
    this.rejectMs = realistic ? REALISTIC_THROTTLE_REJECT_MS * this.latencyScale : 0;
    if (opts.throttle === false) this.bucketSpecs = undefined;
    else
      this.bucketSpecs = { ...DEFAULT_BUCKETS, ...(typeof opts.throttle === 'object' ? opts.throttle : {}) };
    this.faults = validateFaults(opts.faults ?? {});
    this.logSize = opts.callLogSize ?? 10_000;
    const detachMs = opts.detachMs ?? (realistic ? REALISTIC_DETACH_MS * this.latencyScale : 0);
    this.topology = st
      ? SimTopology.restore(st, this.rng)
      : SimTopology.create(
          { region: opts.region, vpcCidr: opts.vpcCidr, subnets: opts.subnets, zones: opts.zones },
          this.rng,
        );
    if (st) {
      this.eventSeq = st.eventSeq;
      for (const [key, b] of Object.entries(st.buckets)) {
        const spec = this.bucketSpecs?.[key];
        if (spec) this.buckets.set(key, new TokenBucket(spec, this.clock.now(), b));
      }
    }
    this.ec2 = new Ec2Actions(this, {
      visibilityLagMs: opts.visibilityLagMs ?? 0,
      detachMs,
    });
  }

  // ---- admin (synchronous, no latency, no throttling) ----

  /** Launches an instance (as a node boots): primary interface at device 0 with a primary address. */
  launchInstance(req: {
    instanceType: string;
    instanceId?: string;
    subnetId?: string;
    zone?: string;
    securityGroups?: string[];
  }): InstanceRecord {
    return this.ec2.launch(req);
  }

  terminateInstance(instanceId: string): void {
    this.ec2.terminate(instanceId);
  }

  setFaults(plan: FaultPlan): void {
    this.faults = validateFaults(plan);
  }

  getFaults(): FaultPlan {
    return this.faults;
  }

  /** Subscribes to cloud events; returns the unsubscribe function. */
  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(body: SimEventBody): void {
    const e = { ...body, seq: ++this.eventSeq, at: this.clock.now() } as SimEvent;
    for (const l of this.listeners) l(e);
  }

  touch(): void {
    this.version++;
  }

  /** Counters per action (and per bucket key for unfiltered Describe*), for benchmarks. */
  callStats(): Record<string, CallStats> {
    return Object.fromEntries([...this.stats].map(([k, v]) => [k, { ...v, errors: { ...v.errors } }]));
  }

  /** The most recent calls, oldest first. */
  callLog(): CallRecord[] {
    return this.log.slice(-this.logSize);
  }

  resetCallLog(): void {
    this.log = [];
    this.stats.clear();
  }

  /** Tokens left in a bucket now (undefined when throttling is off). */
  bucketLevel(key: string): number | undefined {
    const b = this.bucket(key);
    return b?.level(this.clock.now());
  }

  /** Everything the cloud holds, as it is now (no visibility lag): for the lab, tests and operators. */
  inspect(): SimInspection {
    const t = this.topology;
    return {
      region: t.region,
      vpc: { id: t.vpc.id, cidr: t.vpc.cidr },
      subnets: [...t.subnets.values()].map((s) => describeSubnet(t, s)),
      instances: [...t.instances.values()].map((i) => describeInstance(t, i)),
      interfaces: [...t.interfaces.values()].map((r) => describeInterface(t, r, this.clock.now(), 0)),
      eventSeq: this.eventSeq,
    };
  }

  toJSON(): SimStateJson {
    const buckets: SimStateJson['buckets'] = {};
    for (const [k, b] of this.buckets) buckets[k] = b.state();
    return { ...this.topology.toJSON(), rng: this.rng.seed, buckets, eventSeq: this.eventSeq };
  }

  // ---- the EC2 call path ----

  /**
   * Runs one EC2 action: throttle → fault → latency → effect. `bucketKey` differs from the action for
   * unfiltered Describe* calls. The effect runs after the latency, when the cloud answers.
   */
  async run<T>(
    action: Ec2Action,
    effect: () => T,
    opts: { bucketKey?: string; instanceId?: string } = {},
  ): Promise<T> {
    const start = this.clock.now();
    const key = opts.bucketKey ?? action;
    let outcome = 'ok';
    try {
      const bucket = this.bucket(key);
      if (bucket && !bucket.take(start)) {
        if (this.rejectMs > 0) await this.clock.sleep(this.rejectMs);
        throw new ThrottledError(`${action}: Request limit exceeded.`, 'RequestLimitExceeded', action);
      }
      const fault = drawFault(this.faults, action, this.rng);
      const ms = this.drawLatency(action);
      if (ms > 0) await this.clock.sleep(ms);
      if (fault && fault.when !== 'after') throw faultError(fault, action);
      const result = effect();
      if (fault) throw faultError(fault, action);
      return result;
    } catch (err) {
      outcome = err instanceof CloudError ? err.code : 'InternalError';
      throw err;
    } finally {
      this.record(key, action, start, outcome, opts.instanceId);
    }
  }

  private bucket(key: string): TokenBucket | undefined {
    if (!this.bucketSpecs) return undefined;
    let b = this.buckets.get(key);
    if (!b) {
      const spec = this.bucketSpecs[key] ?? this.bucketSpecs[key.split(':')[0]];
      if (!spec) return undefined;
      b = new TokenBucket(spec, this.clock.now());
      this.buckets.set(key, b);
    }
    return b;
  }

  private drawLatency(action: Ec2Action): number {
    const spec = this.latency[action];
    if (spec === undefined) return 0;
    if (typeof spec === 'number') return spec * this.latencyScale;
    let ms = spec.medianMs * Math.exp(spec.sigma * this.rng.normal());
    if (spec.minMs !== undefined) ms = Math.max(spec.minMs, ms);
    if (spec.maxMs !== undefined) ms = Math.min(spec.maxMs, ms);
    return ms * this.latencyScale;
  }

  private record(key: string, action: string, start: number, outcome: string, instanceId?: string): void {
    const ms = this.clock.now() - start;
    const rec: CallRecord = { seq: ++this.callSeq, action, at: start, ms, outcome };
    if (instanceId) rec.instanceId = instanceId;
    this.log.push(rec);
    // Trim in batches: an O(n) splice per call would cost benchmarks that make thousands of calls.
    if (this.log.length >= 2 * this.logSize) this.log.splice(0, this.log.length - this.logSize);
    for (const k of key === action ? [action] : [action, key]) {
      let s = this.stats.get(k);
      if (!s) this.stats.set(k, (s = { calls: 0, ok: 0, throttled: 0, errors: {}, totalMs: 0 }));
      s.calls++;
      s.totalMs += ms;
      if (outcome === 'ok') s.ok++;
      else {
        if (outcome === 'RequestLimitExceeded') s.throttled++;
        s.errors[outcome] = (s.errors[outcome] ?? 0) + 1;
      }
    }
  }
}
