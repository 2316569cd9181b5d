// The daemon's core: implements Ipam (ipamd/core/types.ts) over the pool (memory + SQLite), the pool engine
// and the reconciler. An Allocate on a warm pool is answered from memory and one SQLite transaction.
// On an empty pool with capacity left, the request parks (up to TIDEPOOL_ADD_WAIT_MS) and kicks the
// reconciler at once; parked requests count as demand, so one cloud call serves all of them. It fails
// only when the node is truly full or the wait expires, saying which. The comparison mode
// (TIDEPOOL_COMPARISON_MODE=incumbent) fails at once instead, as the AWS VPC CNI does.

import type { Settings } from '../../config/settings.js';
import { realClock, type Clock } from '../../providers/clock.js';
import type { CloudInterface, Provider } from '../../providers/types.js';
import { CloudBudget, type BudgetOptions } from '../cloud/budget.js';
import { addressCapacity } from '../engine/capacity.js';
import { nodeFullMessage } from '../engine/node-full.js';
import { silentCoreLogger, type CoreLogger } from './logger.js';
import { keyString, NodePool } from '../state/node-pool.js';
import {
  BURST_WINDOW_MAX_MS,
  BurstWindow,
  decayedRate,
  RecentEvents,
  ewma,
  HPA_TREND_MS,
  recordEvents,
  type RateEstimate,
} from '../engine/demand.js';
import type { PoolDemand } from '../engine/model.js';
import { ParkingLot } from './parking.js';
import { Reconciler, SUBNET_FULL_PAUSE_MS } from '../cloud/reconciler.js';
import { buildSnapshot, type IpamSnapshot } from './snapshot.js';
import { dropInterruptedChanges } from '../state/interrupted.js';
import type { StateStore } from '../state/store.js';
import { SubnetWatch } from '../cloud/subnet-watch.js';
import {
  type AllocateOutcome,
  type Allocation,
  type AllocationKey,
  type CloudState,
  type Ipam,
  type IpamObserver,
  NodeFullError,
  noopObserver,
  type PodRef,
  PoolEmptyError,
  type PoolStatus,
  PoolWaitTimeoutError,
  ShuttingDownError,
} from './types.js';

export interface IpamCoreOptions {
  settings: Settings;
  provider: Provider;
  store: StateStore;
  clock?: Clock;
  observer?: IpamObserver;
  log?: CoreLogger;
  /** Budget overrides (concurrency, buckets, retries, random source). */
  budget?: Partial<Omit<BudgetOptions, 'clock' | 'observer'>>;
  /** Sets up a new interface on the host before any pod gets one of its addresses. */
  prepareInterface?: (iface: CloudInterface) => Promise<void>;
  /** Pool loop tick (default 5000 ms) and cloud resync period (default 60000 ms). */
  tickMs?: number;
  resyncIntervalMs?: number;
}

export class IpamCore implements Ipam {
  readonly settings: Settings;
  readonly clock: Clock;
  readonly pool: NodePool;
  readonly budget: CloudBudget;
  readonly reconciler: Reconciler;
  private readonly store: StateStore;
  private readonly observer: IpamObserver;
  private readonly log: CoreLogger;
  private readonly parked: ParkingLot;
  private rate: RateEstimate = { rate: 0, at: 0 };
  /** Releases of held addresses, the same way (net demand = adds − releases, for flat-cost clouds). */
  private releaseRate: RateEstimate = { rate: 0, at: 0 };
  private readonly bursts = new BurstWindow();
  /** Releases of the last burst window (the ADDs of it are in `bursts`). */
  private readonly recentReleases = new RecentEvents();
  private roundTripMs?: number;
  private stopping = false;
  private started?: Promise<void>;
  /** Subnet scarcity mode: what the cloud says of the node's subnets (off in the comparison mode). */
  readonly subnets: SubnetWatch;
  private watching?: Promise<void>;
  private stopWatch!: () => void;
  private readonly watchStopped = new Promise<void>((r) => (this.stopWatch = r));

  constructor(opts: IpamCoreOptions) {
    this.settings = opts.settings;
    this.clock = opts.clock ?? realClock;
    this.store = opts.store;
    this.observer = opts.observer ?? noopObserver;
    this.log = opts.log ?? silentCoreLogger;
    this.pool = new NodePool(this.store, this.clock, opts.settings.kube.customNetwork);
    this.budget = new CloudBudget({ ...opts.budget, clock: this.clock, observer: this.observer });
    const incumbent = opts.settings.pool.comparisonMode === 'incumbent';
    this.subnets = new SubnetWatch(incumbent ? 0 : opts.settings.pool.scarcityPercent);
    // Every DescribeSubnets answer (subnet discovery's too) tells the subnet watch what is free.
    const provider = this.subnets.enabled
      ? this.subnets.observing(opts.provider, () => this.clock.now())
      : opts.provider;
    this.reconciler = new Reconciler({
      settings: this.settings,
      provider,
      store: this.store,
      pool: this.pool,
      budget: this.budget,
      clock: this.clock,
      log: this.log,
      demand: () => this.demand(),
      onChange: () => this.poolChanged(),
      onRoundTrip: (ms) => (this.roundTripMs = ewma(this.roundTripMs, ms)),
      prepareInterface: opts.prepareInterface,
      tickMs: opts.tickMs,
      resyncIntervalMs: opts.resyncIntervalMs,
      scarce: () => this.scarce(),
      congested: () => this.budget.paced('addresses') || this.budget.paced('interfaces'),
      onCloudError: (err) => this.subnets.noteError(err, this.subnetIds(), this.clock.now()),
      // Under scarcity the last addresses come back from other nodes within seconds: retry soon.
      subnetFullPauseMs: () => (this.subnets.enabled ? 5_000 : SUBNET_FULL_PAUSE_MS),
    });
    this.watchSubnets = () => this.watchLoop(provider);
    this.parked = new ParkingLot({
      pool: this.pool,
      clock: this.clock,
      observer: this.observer,
      addWaitMs: this.settings.pool.addWaitMs,
      kick: () => this.reconciler.kick(),
      ready: () => this.reconciler.ready,
      fullMessage: (deadline) => this.fullMessage(deadline),
      describe: () => `${this.describeCounts()}; ${this.reconciler.waitingOn()}`,
    });
  }

  /**
   * Loads the store (Allocate is served from it at once), then, in the background, repairs open intents,
   * describes the node and lists its interfaces, retrying with backoff until that succeeds. Resolves when
   * ready (first listing done); rejects only if stop() comes first.
   */
  start(): Promise<void> {
    if (!this.started) {
      const dropped = dropInterruptedChanges(this.store);
      if (dropped.addresses.length + dropped.prefixes.length + dropped.interfaces.length)
        this.log.warn(
          { ...dropped },
          'releases cut short by a restart: dropped until the cloud lists them again',
        );
      this.pool.load();
      this.started = this.reconciler.start().then(() => {
        this.log.info({ policy: this.reconciler.policy, ...this.status() }, 'ipam ready');
        this.poolChanged();
        if (this.parked.size) this.reconciler.kick();
        if (this.subnets.enabled) this.watching = this.watchSubnets();
      });
    }
    return this.started;
  }

  /** Resolves when the first interface listing is done (the node can be declared network-ready). */
  whenReady(): Promise<void> {
    return this.started ?? Promise.reject(new Error('IpamCore.start() was not called'));
  }

  get ready(): boolean {
    return this.reconciler.ready;
  }

  /** Refuses new allocations, fails parked ones, lets cloud calls in flight finish, closes the store. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.parked.cancelAll(new ShuttingDownError('the daemon is shutting down'));
    this.budget.close();
    const stopping = this.reconciler.stop();
    this.stopWatch();
    await this.started?.catch(() => undefined);
    await stopping;
    await this.watching;
    await this.budget.idle();
    this.store.close();
  }

  async allocate(key: AllocationKey, pod: PodRef): Promise<AllocateOutcome> {
    if (this.stopping)
      throw new ShuttingDownError('the daemon is shutting down and accepts no new allocation');
    const k = keyString(key);
    const existing = this.pool.allocations.get(k);
    if (existing) return { allocation: this.pool.toAllocation(existing), waitedMs: 0, reused: true };
    const waiting = this.parked.waiting(key);
    if (waiting) return waiting;
    const now = this.clock.now();
    this.rate = recordEvents(this.rate, now);
    this.bursts.record(now, this.burstWindowMs());
    const addr = this.pool.pickFree(now);
    if (addr) {
      const stored = this.pool.assign(key, pod, addr, now);
      this.observer.allocated(0, 0);
      this.afterAssign();
      return { allocation: this.pool.toAllocation(stored), waitedMs: 0, reused: false };
    }
    if (this.reconciler.policy === 'incumbent') {
      this.observer.allocateFailed('pool-empty');
      throw new PoolEmptyError(
        `no free address in the pool (${this.describeCounts()}); comparison mode TIDEPOOL_COMPARISON_MODE=incumbent ` +
          `fails at once as the AWS VPC CNI does; the pool is checked on the next 5 s tick`,
      );
    }
    const full = this.fullMessage(now + this.settings.pool.addWaitMs);
    if (full) {
      this.observer.allocateFailed('node-full');
      throw new NodeFullError(full);
    }
    if (this.settings.pool.addWaitMs <= 0) {
      this.observer.allocateFailed('pool-wait-timeout');
      throw new PoolWaitTimeoutError(
        `no free address and TIDEPOOL_ADD_WAIT_MS=0: ${this.reconciler.waitingOn()}`,
      );
    }
    return this.parked.park(key, pod, now);
  }

  private readonly watchSubnets: () => Promise<void>;

  /** Polls the node's subnets while the daemon runs (more often while one is scarce). */
  private async watchLoop(provider: Provider): Promise<void> {
    while (!this.stopping) {
      const wasScarce = this.scarce();
      await this.subnets.poll(provider, this.budget, () => this.clock.now());
      // Scarcity just began: plan at once (release idle addresses first).
      if (!wasScarce && this.scarce()) this.reconciler.kick();
      const ms = this.subnets.nextPollMs(this.subnetIds(), this.clock.now());
      await Promise.race([this.clock.sleep(ms), this.watchStopped]);
    }
  }

  private subnetIds(): string[] {
    const ids = new Set<string>();
    if (this.reconciler.node) ids.add(this.reconciler.node.subnetId);
    for (const i of this.pool.interfaces.values()) ids.add(i.subnetId);
    return [...ids];
  }

  private scarce(): boolean {
    return this.subnets.scarce(this.subnetIds(), this.clock.now());
  }

  private poolChanged(): void {
    this.parked.serve();
    this.observer.poolChanged();
  }

  private afterAssign(): void {
    this.observer.poolChanged();
    // Tidepool tops the pool up as soon as it runs low, not on the next tick.
    if (this.reconciler.policy !== 'incumbent' && this.pool.counts(this.clock.now()).free === 0)
      this.reconciler.kick();
  }

  /** The node-full sentence, or null when the pool can still grow or a cooldown ends before `deadline`. */
  private fullMessage(deadline: number): string | null {
    return nodeFullMessage(this.pool, this.reconciler, this.settings.pool, this.clock.now(), deadline);
  }

  private describeCounts(): string {
    const c = this.pool.counts(this.clock.now());
    return `${c.free} free, ${c.assigned} assigned, ${c.cooling} cooling of ${c.total} on ${this.pool.interfaces.size} interfaces`;
  }

  /** One cloud round trip plus a tick of slack: the window a burst must be served from the pool. */
  private burstWindowMs(): number {
    return Math.min(BURST_WINDOW_MAX_MS, (this.roundTripMs ?? 1_000) + 1_000);
  }

  private demand(): PoolDemand {
    const now = this.clock.now();
    return {
      parked: this.parked.size,
      addRatePerSec: decayedRate(this.rate, now),
      releaseRatePerSec: decayedRate(this.releaseRate, now),
      recentAddRatePerSec: this.bursts.recent.ratePerSec(now, this.burstWindowMs()),
      recentReleaseRatePerSec: this.recentReleases.ratePerSec(now, this.burstWindowMs()),
      roundTripMs: this.roundTripMs ?? 1_000,
      burstPeak: this.bursts.peak(now),
      recentBurst: this.bursts.recentPeak(now, HPA_TREND_MS),
    };
  }

  async release(key: AllocationKey, reason: string): Promise<Allocation | null> {
    if (!this.store.isOpen)
      throw new ShuttingDownError('the daemon has stopped; the release is reconciled on restart');
    const now = this.clock.now();
    // A DEL while the ADD still waits for the pool: the ADD is abandoned, nothing is left allocated.
    this.parked.cancel(
      key,
      () => new PoolWaitTimeoutError(`released (${reason}) while waiting for an address`),
    );
    const stored = this.pool.release(key, now + this.settings.pool.cooldownMs);
    if (!stored) return null;
    this.releaseRate = recordEvents(this.releaseRate, now);
    this.recentReleases.record(now);
    this.log.debug({ address: stored.address, reason, containerId: key.containerId }, 'released');
    this.observer.released();
    this.observer.poolChanged();
    if (this.parked.size) this.parked.wakeForCooling();
    return this.pool.toAllocation(stored);
  }

  check(key: AllocationKey): Allocation | null {
    const stored = this.pool.allocations.get(keyString(key));
    return stored ? this.pool.toAllocation(stored) : null;
  }

  async gc(network: string, valid: { containerId: string; ifname: string }[]): Promise<string[]> {
    const keep = new Set(valid.map((v) => `${v.containerId}\u0000${v.ifname}`));
    const released: string[] = [];
    for (const a of [...this.pool.allocations.values()]) {
      if (a.key.network !== network || keep.has(`${a.key.containerId}\u0000${a.key.ifname}`)) continue;
      const r = await this.release(a.key, 'gc');
      if (r) released.push(r.address);
    }
    return released;
  }

  status(): PoolStatus {
    const c = this.pool.counts(this.clock.now());
    const cap = this.reconciler.capacity;
    const capacity = cap ? addressCapacity(cap, this.settings.pool.prefixDelegation) : 0;
    const ready = this.reconciler.ready && !this.stopping;
    let message: string;
    if (this.stopping) message = 'shutting down';
    else if (!this.reconciler.ready) message = `starting: ${this.reconciler.waitingOn()}`;
    else if (c.free > 0) message = `ready: ${c.free} free addresses`;
    else
      message = this.fullMessage(this.clock.now()) ?? `no free address yet: ${this.reconciler.waitingOn()}`;
    return {
      ready,
      message,
      ...c,
      capacity,
      interfaces: this.pool.interfaces.size,
      parked: this.parked.size,
    };
  }

  snapshot(): IpamSnapshot {
    return buildSnapshot(this, this.demand());
  }

  cloudState(): CloudState {
    return { pacing: this.budget.pacing(), subnets: this.subnets.view(this.clock.now()) };
  }
}
