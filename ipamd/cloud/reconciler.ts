// The reconciler: runs the pool engine and executes its actions through the provider under the budget.
// Rounds are serialised (one plan, its actions, then the next plan), like the incumbent's loop, but a
// round starts at once when an Allocate parks (kick) instead of waiting for the next tick. One exception,
// Tidepool's own: requests that park while a round's calls are in flight, beyond what those calls will
// bring, get a growth-only round at once, planned against the pool as it will be (inflight.ts). Every wait
// is on the injected Clock. The comparison mode keeps the incumbent's cadence: 2.5 s, pool round,
// 2.5 s, reconcile (reference aws-vpc-cni.md 3.1), no kicks.
// A periodic resync with listInterfaces() adopts what the cloud has and the store lacks, and drops
// what the cloud no longer has once a grace for visibility lag has passed.

import { randomUUID } from 'node:crypto';
import type { Settings } from '../../config/settings.js';
import type { Clock } from '../../providers/clock.js';
import { LimitExceededError, SubnetFullError, UnsupportedError } from '../../providers/errors.js';
import type { CloudInterface, NodeInfo, Provider } from '../../providers/types.js';
import type { CloudBudget } from './budget.js';
import { poolCapacity } from '../engine/capacity.js';
import { executeAction, type ActionContext } from './actions.js';
import { deferWarmGrowth, LazyWarmAttach } from './congestion.js';
import { growthOnly, InFlightGrowth } from './inflight.js';
import type { CoreLogger } from '../core/logger.js';
import type { NodePool } from '../state/node-pool.js';
import type { PoolCapacity, PoolDemand } from '../engine/model.js';
import { planPool, policyOf, targetsOf } from '../engine/plan.js';
import { shapeFlatWrites, type FlatWriteState } from '../engine/flat-writes.js';
import { resyncPool } from './resync.js';
import type { StateStore } from '../state/store.js';

export interface ReconcilerOptions {
  settings: Settings;
  provider: Provider;
  store: StateStore;
  pool: NodePool;
  budget: CloudBudget;
  clock: Clock;
  log: CoreLogger;
  demand: () => PoolDemand;
  /** Addresses were added or removed: serve parked requests, update gauges. */
  onChange: () => void;
  /** Duration of a call that added addresses (learned by the adaptive policy). */
  onRoundTrip: (ms: number) => void;
  prepareInterface?: (iface: CloudInterface) => Promise<void>;
  tickMs?: number;
  resyncIntervalMs?: number;
  visibilityGraceMs?: number;
  /** The node's subnet is scarce: plan with the scarcity policy (pool/scarcity-policy.ts). */
  scarce?: () => boolean;
  /** The account throttles this daemon (its budget paces): growth nobody waits for is deferred. */
  congested?: () => boolean;
  /** A pool action failed with this cloud error (the subnet watch learns from subnet-full answers). */
  onCloudError?: (err: unknown) => void;
  /** Pause of growth after a subnet-full answer; default SUBNET_FULL_PAUSE_MS. */
  subnetFullPauseMs?: () => number;
}

/** After InsufficientFreeAddressesInSubnet / InsufficientCidrBlocks, growth pauses (reference 3.1). */
export const SUBNET_FULL_PAUSE_MS = 120_000;

export class Reconciler {
  node?: NodeInfo;
  capacity?: PoolCapacity;
  ready = false;
  lastDecreaseAt = 0;
  lastResyncAt = 0;
  growthPausedUntil = 0;
  attachUnsupported = false;
  /** What a cloud call in flight is doing, and the last failure: for "what the pool waits on". */
  readonly inFlight = new Map<number, string>();
  lastError?: { at: number; message: string };
  rounds = 0;

  private readonly o: ReconcilerOptions;
  private readonly recentlyReleased = new Map<string, number>();
  private readonly prefixFallback = { until: 0 };
  private stopping = false;
  private kicked = false;
  private wake?: () => void;
  private tick?: Promise<void>;
  private loopDone?: Promise<void>;
  private roundRunning?: Promise<void>;
  private seq = 0;
  private readonly growing = new InFlightGrowth();
  private growthScheduled = false;
  private readonly growthRounds = new Set<Promise<void>>();
  private readonly stopSignal: Promise<void>;
  private signalStop!: () => void;
  private readonly lazyAttach: LazyWarmAttach;
  /** Flat-cost writes (Azure): the held release's state (engine/flat-writes.ts). */
  private flatWrites: FlatWriteState | undefined;

  constructor(opts: ReconcilerOptions) {
    this.o = opts;
    this.lazyAttach = new LazyWarmAttach();
    this.stopSignal = new Promise((r) => (this.signalStop = r));
  }

  get policy() {
    return policyOf(this.o.settings.pool);
  }

  /**
   * Repairs open intents, learns the node, lists its interfaces once (ready), then runs the loop. A
   * failure (cloud unreachable, missing permission) is logged and retried with backoff until stop().
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.init();
        break;
      } catch (err) {
        if (this.stopping) throw err;
        this.noteError('starting (describe the node, list its interfaces)', err);
        await this.sleep(Math.min(30_000, 1_000 * 2 ** Math.min(attempt, 5)));
        if (this.stopping) throw new Error(`stopped before the node was ready: ${this.waitingOn()}`);
      }
    }
    // The incumbent's handlePreScaling (nodeInit, reference aws-vpc-cni.md 1.2 step 9, 3.7): one pool
    // round before it serves, so its node is Ready only once the first batch has landed.
    if (this.policy === 'incumbent' && !this.stopping) await this.runRound();
    this.ready = true;
    this.loopDone = this.loop();
  }

  private async init(): Promise<void> {
    const { provider, store, budget, log } = this.o;
    provider.setJournal?.(store);
    const intents = store.openIntents();
    if (intents.length) {
      log.warn(
        { intents: intents.map((i) => ({ id: i.id, kind: i.kind })) },
        'repairing cloud calls cut short',
      );
      const unsettled = new Set(
        provider.repairIntents
          ? await budget.run('RepairIntents', 'interfaces', () => provider.repairIntents!(intents))
          : [],
      );
      for (const i of intents) if (!unsettled.has(i.id)) store.end(i.id);
      if (unsettled.size)
        log.warn(
          { intents: intents.filter((i) => unsettled.has(i.id)).map((i) => ({ id: i.id, kind: i.kind })) },
          'cloud calls cut short that could not be repaired; left open for the next start',
        );
    }
    this.node = await budget.run('DescribeNode', 'describe', () => provider.describeNode());
    const recorded = store.instanceId();
    if (recorded && recorded !== this.node.instanceId) {
      // A state directory carried over to another instance: its pool is not this node's.
      log.warn(
        { recorded, instanceId: this.node.instanceId },
        'state belongs to another instance; discarded',
      );
      for (const id of [...this.o.pool.interfaces.keys()]) this.o.pool.removeInterface(id);
    }
    store.setInstanceId(this.node.instanceId);
    this.capacity = poolCapacity(this.node.limits, this.o.settings.pool, this.o.pool.skipPrimary);
    await this.resync();
  }

  /** Asks for a round now (an Allocate parked). Ignored in the comparison mode, as the incumbent does. */
  kick(): void {
    if (this.policy === 'incumbent' || this.stopping) return;
    this.kicked = true;
    this.wake?.();
    if (this.roundRunning) this.scheduleGrowth();
  }

  /**
   * A round is in flight and requests parked: once every request of this turn of the event loop has
   * parked, start the growth they still lack, without waiting for the round's calls to land.
   */
  private scheduleGrowth(): void {
    if (this.growthScheduled) return;
    this.growthScheduled = true;
    setImmediate(() => {
      this.growthScheduled = false;
      if (this.stopping || !this.capacity) return;
      const demand = this.o.demand();
      const free = this.o.pool.counts(this.o.clock.now()).free;
      if (demand.parked <= free + this.growing.supply()) return;
      const p = this.round(true).catch((err) => this.noteError('growth round', err));
      this.growthRounds.add(p);
      void p.finally(() => this.growthRounds.delete(p));
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.signalStop();
    this.wake?.();
    await this.loopDone;
    await this.roundRunning;
    await Promise.all([...this.growthRounds]);
  }

  private async loop(): Promise<void> {
    const tickMs = this.o.tickMs ?? 5_000;
    // Pre-scaling at boot, as the incumbent's nodeInit does: the first round runs as soon as the node is
    // known, not one tick later, so a new node has its warm pool before its first pods arrive.
    if (this.policy !== 'incumbent') this.kicked = true;
    while (!this.stopping) {
      if (this.policy === 'incumbent') {
        await this.sleep(tickMs / 2);
        if (this.stopping) break;
        await this.runRound();
        await this.sleep(tickMs / 2);
      } else {
        await this.waitTickOrKick(tickMs);
        if (this.stopping) break;
        // Let every request arriving in this turn of the event loop park first: one call serves them all.
        await new Promise<void>((r) => setImmediate(r));
        this.kicked = false;
        await this.runRound();
      }
      if (!this.stopping && this.o.clock.now() - this.lastResyncAt >= (this.o.resyncIntervalMs ?? 60_000))
        await this.resync().catch((err) => this.noteError('resync', err));
    }
  }

  private sleep(ms: number): Promise<void> {
    return Promise.race([this.o.clock.sleep(ms), this.stopSignal]);
  }

  private async waitTickOrKick(tickMs: number): Promise<void> {
    if (this.kicked) return;
    if (!this.tick) {
      const t: Promise<void> = this.o.clock.sleep(tickMs).then(() => {
        if (this.tick === t) this.tick = undefined;
      });
      this.tick = t;
    }
    const kick = new Promise<void>((r) => (this.wake = r));
    await Promise.race([this.tick, kick, this.stopSignal]);
    this.wake = undefined;
  }

  private async runRound(): Promise<void> {
    this.roundRunning = this.round().catch((err) => this.noteError('round', err));
    await this.roundRunning;
    this.roundRunning = undefined;
  }

  /**
   * One round: plan, then execute every planned action (concurrently; the budget orders them). The plan
   * sees growth still in flight as if it had landed; while some is, a round only grows (`growthOnly`).
   */
  async round(growthOnlyRound = false): Promise<void> {
    if (!this.capacity) return;
    const now = this.o.clock.now();
    const detaching = [...this.o.pool.interfaces.values()].filter((i) => i.detaching);
    const inFlight = this.growing.size > 0 || growthOnlyRound;
    const demand = this.o.demand();
    const scarce = this.policy !== 'incumbent' && (this.o.scarce?.() ?? false);
    const planInput = {
      state: this.growing.planState(this.o.pool.toPlanState(), detaching, now),
      demand,
      targets: targetsOf(this.o.settings.pool),
      capacity: this.capacity,
      now,
      lastDecreaseAt: this.lastDecreaseAt,
    };
    let actions = planPool(scarce ? 'scarce' : this.policy, planInput);
    // A cloud whose every write is one long round trip whatever it carries (Azure's NIC PUT): grows
    // cover the round trip's demand, releases wait until the excess has lasted (engine/flat-writes.ts).
    if (this.o.provider.flatWriteCost && this.policy !== 'incumbent' && !scarce) {
      const shaped = shapeFlatWrites(
        actions,
        { ...planInput, coolingCountsAsAvailable: false },
        this.flatWrites,
      );
      actions = shaped.actions;
      this.flatWrites = shaped.state;
    }
    if (now < this.growthPausedUntil)
      actions = actions.filter((a) => a.kind !== 'assign' && a.kind !== 'attach');
    if (this.attachUnsupported) actions = actions.filter((a) => a.kind !== 'attach');
    if (demand.parked === 0 && this.o.congested?.()) actions = deferWarmGrowth(actions);
    // Lazy warm attaches where the warm buffer is whole interfaces (WARM_ENI_TARGET) or learned
    // (adaptive); a WARM_IP_TARGET / MINIMUM_IP_TARGET an operator tuned is kept at once.
    const { warmIpTarget, minimumIpTarget } = this.o.settings.pool;
    if (this.policy === 'adaptive' || (this.policy === 'aws-compatible' && !warmIpTarget && !minimumIpTarget))
      actions = this.lazyAttach.filter(actions, demand.parked, now);
    if (inFlight) actions = growthOnly(actions);
    if (!actions.length) return;
    this.rounds++;
    this.o.log.debug({ actions, growthOnly: inFlight }, 'pool round');
    if (actions.some((a) => a.kind === 'release')) this.lastDecreaseAt = now;
    await Promise.all(actions.map((a) => this.execute(a)));
  }

  private async execute(action: Parameters<typeof executeAction>[1]): Promise<void> {
    const id = ++this.seq;
    const what =
      action.kind === 'assign'
        ? `assigning ${action.count} ${action.unit === 'prefix' ? 'prefix(es)' : 'address(es)'} to ${action.interfaceId}`
        : action.kind === 'attach'
          ? `attaching interface ${action.deviceNumber} with ${action.count} ${action.unit}(es)`
          : action.kind === 'release'
            ? `releasing from ${action.interfaceId}`
            : `detaching ${action.interfaceId}`;
    this.inFlight.set(id, `${what} since ${new Date(this.o.clock.now()).toISOString()}`);
    this.growing.add(id, action);
    try {
      await executeAction(this.actionContext(), action);
    } catch (err) {
      this.noteError(what, err);
      this.o.onCloudError?.(err);
      if (err instanceof SubnetFullError)
        this.growthPausedUntil = this.o.clock.now() + (this.o.subnetFullPauseMs?.() ?? SUBNET_FULL_PAUSE_MS);
      if (err instanceof UnsupportedError && action.kind === 'attach') this.attachUnsupported = true;
      // PrivateIpAddressLimitExceeded: our view is out of date (reference 3.4); list again next turn.
      if (err instanceof LimitExceededError) this.lastResyncAt = 0;
    } finally {
      this.inFlight.delete(id);
      this.growing.delete(id);
    }
  }

  private actionContext(): ActionContext {
    const { settings, provider, pool, budget, clock, log, onChange, onRoundTrip, prepareInterface } = this.o;
    return {
      node: this.node!,
      settings,
      provider,
      pool,
      journal: this.o.store,
      budget,
      clock,
      log,
      onChange,
      onRoundTrip,
      prepareInterface,
      clientToken: () => randomUUID(),
      prefixFallback: this.prefixFallback,
      released: (ips) => ips.forEach((ip) => this.recentlyReleased.set(ip, clock.now())),
    };
  }

  /** Lists the cloud's interfaces and brings the pool in line with them. */
  async resync(): Promise<void> {
    const { provider, budget, clock } = this.o;
    const cloud = await budget.run('DescribeNetworkInterfaces', 'describe', () => provider.listInterfaces(), {
      coalesce: true,
    });
    const now = clock.now();
    const grace = this.o.visibilityGraceMs ?? 60_000;
    for (const [ip, at] of this.recentlyReleased) if (now - at > grace) this.recentlyReleased.delete(ip);
    const result = await resyncPool({
      cloud,
      pool: this.o.pool,
      node: this.node!,
      now,
      graceMs: grace,
      recentlyReleased: this.recentlyReleased,
      log: this.o.log,
      prepareInterface: this.o.prepareInterface,
    });
    this.o.log.debug({ ...result }, 'resync');
    this.lastResyncAt = now;
    this.o.onChange();
  }

  private noteError(what: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = { at: this.o.clock.now(), message: `${what}: ${message}` };
    this.o.log.warn({ err: message, what }, 'pool action failed');
  }

  /** A sentence saying what the pool is waiting on (for PoolWaitTimeoutError and status). */
  waitingOn(): string {
    const parts: string[] = [];
    if (!this.ready) parts.push('the first listing of the node interfaces has not finished');
    if (this.inFlight.size) parts.push(`cloud calls in flight: ${[...this.inFlight.values()].join('; ')}`);
    else parts.push('no cloud call in flight');
    const now = this.o.clock.now();
    if (now < this.growthPausedUntil)
      parts.push(
        `growth paused for ${Math.ceil((this.growthPausedUntil - now) / 1000)} s after a subnet-full error`,
      );
    if (this.lastError)
      parts.push(
        `last cloud error ${Math.round((now - this.lastError.at) / 1000)} s ago: ${this.lastError.message}`,
      );
    return parts.join('; ');
  }
}
