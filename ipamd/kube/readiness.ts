// Node network readiness from the real pool (ARCHITECTURE section 8): one evaluation feeds the node condition
// tidepool.io/NetworkReady, the moment the conflist is written and the startup taint removed, and the Status
// RPC that answers CNI STATUS. Ready means the daemon serves and the pool can hand out an address: a free one
// now, or (once the node has served) one the pool is growing. Reasons and messages say why not, with free and
// total addresses. The incumbent ties readiness to its gRPC health only (reference
// azure-arm-and-kubernetes-anchors.md 1.5, 2.3); Cilium to its agent pod (2.2): both say ready with no address.
//
// CNI STATUS fails only while the daemon cannot serve at all (stopping, starting, not yet ready once): a
// runtime that gets a STATUS error reports the network not ready, the kubelet turns the whole node NotReady,
// and the node lifecycle controller marks every running pod NotReady and starts the not-ready eviction clock.
// A node that is merely full, or whose subnet is exhausted, keeps serving its running pods; that is said by
// the condition (which gates scheduling through our taint or a NodeReadinessRule) and by Events, not by
// STATUS.
import type { Settings } from '../../config/settings.js';
import type { IpamCore } from '../core/core.js';
import { nodeFullMessage } from '../engine/node-full.js';

export const NETWORK_READY_CONDITION = 'tidepool.io/NetworkReady';

export type ReadinessReason =
  | 'DaemonNotServing'
  | 'DaemonStopping'
  | 'PoolStarting'
  | 'PoolWarming'
  | 'PoolReady'
  | 'PoolGrowing'
  | 'PoolOnDemand'
  | 'NodeFull'
  | 'SubnetFull'
  | 'CloudCallsFailing';

export interface Readiness {
  ready: boolean;
  reason: ReadinessReason;
  message: string;
  /** Whether CNI STATUS succeeds (see the header: capacity problems after the first ready do not fail it). */
  statusOk: boolean;
  free: number;
  total: number;
}

export interface ReadinessInput {
  serving: boolean;
  stopping: boolean;
  /** The first listing of the node's interfaces is done. */
  started: boolean;
  free: number;
  assigned: number;
  cooling: number;
  total: number;
  capacity: number;
  interfaces: number;
  /** The node-full sentence when the pool can neither grow nor get a cooling address back soon. */
  fullMessage: string | null;
  /** Seconds left of the growth pause after a subnet-full error (0 = none). */
  growthPausedSec: number;
  /** The last cloud error when it is recent (the pool's growth is failing), else null. */
  recentCloudError: string | null;
  /** What the pool waits on (cloud calls in flight), for messages. */
  waitingOn: string;
  /** The policy keeps free addresses in advance (any warm or minimum target). */
  warmTarget: boolean;
  /** The node has been ready before in this daemon's life. */
  wasReady: boolean;
}

/** A cloud error this recent, with no free address, means the pool cannot grow now. */
export const RECENT_ERROR_MS = 30_000;

export function evaluateReadiness(i: ReadinessInput): Readiness {
  const counts =
    `${i.free} free of ${i.total} addresses (${i.assigned} assigned, ${i.cooling} cooling) ` +
    `on ${i.interfaces} interface${i.interfaces === 1 ? '' : 's'}, capacity ${i.capacity}`;
  const out = (ready: boolean, reason: ReadinessReason, message: string, statusOk = ready): Readiness => ({
    ready,
    reason,
    message,
    statusOk,
    free: i.free,
    total: i.total,
  });
  if (i.stopping) return out(false, 'DaemonStopping', `the daemon is stopping: ${counts}`);
  if (!i.serving) return out(false, 'DaemonNotServing', 'the daemon does not serve its socket yet');
  if (!i.started) return out(false, 'PoolStarting', `listing the node's interfaces: ${i.waitingOn}`);
  if (i.free > 0) return out(true, 'PoolReady', counts);
  // No free address: capacity problems after the first ready leave STATUS up (header).
  const keepStatus = i.wasReady;
  if (i.fullMessage) return out(false, 'NodeFull', `${i.fullMessage}; ${counts}`, keepStatus);
  if (i.growthPausedSec > 0)
    return out(
      false,
      'SubnetFull',
      `the subnet has no free address: growth paused for ${i.growthPausedSec} s; ${counts}`,
      keepStatus,
    );
  if (i.recentCloudError)
    return out(
      false,
      'CloudCallsFailing',
      `cannot grow the pool: ${i.recentCloudError}; ${counts}`,
      keepStatus,
    );
  if (i.wasReady) return out(true, 'PoolGrowing', `growing the pool: ${i.waitingOn}; ${counts}`);
  // Before the first ready: a warm pool is awaited; a pool without warm targets grows on demand only.
  if (!i.warmTarget) return out(true, 'PoolOnDemand', `no warm target: addresses on demand; ${counts}`);
  return out(false, 'PoolWarming', `waiting for the warm pool: ${i.waitingOn}; ${counts}`);
}

export function hasWarmTarget(pool: Settings['pool']): boolean {
  return (
    pool.warmIpTarget > 0 ||
    pool.minimumIpTarget > 0 ||
    (pool.prefixDelegation ? pool.warmPrefixTarget > 0 : pool.warmEniTarget > 0) ||
    pool.policy === 'adaptive'
  );
}

/**
 * The daemon's one readiness: evaluates the core, remembers whether the node has been ready, and tells
 * listeners (the node condition, the conflist, the taint) when the result changes.
 */
export class ReadinessTracker {
  private serving = false;
  private stopping = false;
  private wasReady = false;
  private last?: Readiness;
  private readonly listeners = new Set<(r: Readiness) => void>();

  constructor(
    private readonly core: IpamCore,
    private readonly now: () => number = () => core.clock.now(),
  ) {}

  setServing(serving: boolean): void {
    this.serving = serving;
    this.changed();
  }

  setStopping(): void {
    this.stopping = true;
    this.changed();
  }

  /** Current readiness (cheap: counts and a few fields of the reconciler). */
  evaluate(): Readiness {
    const core = this.core;
    const s = core.status();
    const rec = core.reconciler;
    const now = this.now();
    const lastError =
      rec.lastError && now - rec.lastError.at <= RECENT_ERROR_MS && rec.inFlight.size === 0
        ? rec.lastError.message
        : null;
    const r = evaluateReadiness({
      serving: this.serving,
      stopping: this.stopping,
      started: rec.ready,
      free: s.free,
      assigned: s.assigned,
      cooling: s.cooling,
      total: s.total,
      capacity: s.capacity,
      interfaces: s.interfaces,
      fullMessage: rec.ready ? nodeFullMessage(core.pool, rec, core.settings.pool, now, now) : null,
      growthPausedSec: Math.max(0, Math.ceil((rec.growthPausedUntil - now) / 1000)),
      recentCloudError: lastError,
      waitingOn: rec.waitingOn(),
      warmTarget: hasWarmTarget(core.settings.pool),
      wasReady: this.wasReady,
    });
    if (r.ready) this.wasReady = true;
    return r;
  }

  /** Called with every change of ready, reason or status (not of the counts alone). */
  onChange(f: (r: Readiness) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private poked = false;

  /** The pool changed: re-evaluate once, after the current turn of the event loop (Allocate stays cheap). */
  poke(): void {
    if (this.poked || this.listeners.size === 0) return;
    this.poked = true;
    setImmediate(() => {
      this.poked = false;
      this.changed();
    });
  }

  /** Re-evaluates (the pool changed, a timer fired) and tells listeners if the outcome changed. */
  changed(): Readiness {
    const r = this.evaluate();
    const l = this.last;
    this.last = r;
    if (!l || l.ready !== r.ready || l.reason !== r.reason || l.statusOk !== r.statusOk)
      for (const f of this.listeners) f(r);
    return r;
  }

  get current(): Readiness {
    return this.last ?? this.changed();
  }
}
