// What introspection shows: node, settings summary, capacity, interfaces with every address and its
// state, allocations, parked requests, demand, the recent cloud calls, pacing and the subnets' free addresses.

import type { Settings } from '../../config/settings.js';
import type { Clock } from '../../providers/clock.js';
import type { CloudBudget, CloudCallRecord } from '../cloud/budget.js';
import type { Reconciler } from '../cloud/reconciler.js';
import type { NodePool } from '../state/node-pool.js';
import type { PoolDemand } from '../engine/model.js';
import type { Allocation, CloudState, PoolStatus } from './types.js';

export interface IpamSnapshot {
  at: string;
  status: PoolStatus;
  policy: string;
  node: { instanceId: string; instanceType: string; zone: string; primaryInterfaceId: string } | null;
  settings: Record<string, unknown>;
  capacity: unknown;
  demand: PoolDemand;
  interfaces: {
    id: string;
    deviceNumber: number;
    primary: boolean;
    subnetId: string;
    subnetCidr: string;
    primaryAddress: string;
    attachedAt: string;
    detaching: boolean;
    /** Slots the cloud lists as taken by nothing of the pool's (see ipamd/cloud/resync.ts); absent when none. */
    blockedSlots?: number;
    prefixes: string[];
    addresses: {
      address: string;
      state: string;
      coolingUntil?: string;
      prefix?: string;
      releasing?: boolean;
    }[];
  }[];
  allocations: Allocation[];
  cloud: {
    recentCalls: CloudCallRecord[];
    totals: Record<string, number>;
    waitingOn: string;
  } & CloudState;
}

/** What a snapshot is read from: the core (IpamCore), seen only through what introspection shows. */
export interface SnapshotSource {
  readonly settings: Settings;
  readonly clock: Clock;
  readonly pool: NodePool;
  readonly reconciler: Reconciler;
  readonly budget: CloudBudget;
  status(): PoolStatus;
  cloudState(): CloudState;
}

export function buildSnapshot(core: SnapshotSource, demand: PoolDemand): IpamSnapshot {
  const r = core.reconciler;
  const iso = (t: number) => new Date(t).toISOString();
  const p = core.settings.pool;
  return {
    at: iso(core.clock.now()),
    status: core.status(),
    policy: r.policy,
    node: r.node
      ? {
          instanceId: r.node.instanceId,
          instanceType: r.node.instanceType,
          zone: r.node.zone,
          primaryInterfaceId: r.node.primaryInterfaceId,
        }
      : null,
    settings: {
      WARM_ENI_TARGET: p.warmEniTarget,
      WARM_IP_TARGET: p.warmIpTarget,
      MINIMUM_IP_TARGET: p.minimumIpTarget,
      WARM_PREFIX_TARGET: p.warmPrefixTarget,
      ENABLE_PREFIX_DELEGATION: p.prefixDelegation,
      MAX_ENI: p.maxEni,
      IP_COOLDOWN_PERIOD: p.cooldownMs / 1000,
      TIDEPOOL_POOL_POLICY: p.policy,
      TIDEPOOL_COMPARISON_MODE: p.comparisonMode,
      TIDEPOOL_ADD_WAIT_MS: p.addWaitMs,
    },
    capacity: r.capacity ?? null,
    demand,
    interfaces: [...core.pool.interfaces.values()]
      .sort((a, b) => a.deviceNumber - b.deviceNumber)
      .map((i) => ({
        id: i.id,
        deviceNumber: i.deviceNumber,
        primary: i.primary,
        subnetId: i.subnetId,
        subnetCidr: i.subnetCidr,
        primaryAddress: i.primaryAddress,
        attachedAt: iso(i.attachedAt),
        detaching: i.detaching,
        ...(i.blockedSlots ? { blockedSlots: i.blockedSlots } : {}),
        prefixes: [...i.prefixes.keys()],
        addresses: [...i.addresses.values()].map((a) => ({
          address: a.ip,
          state: a.state === 'cooling' && (a.coolingUntil ?? 0) <= core.clock.now() ? 'free' : a.state,
          ...(a.state === 'cooling' && (a.coolingUntil ?? 0) > core.clock.now()
            ? { coolingUntil: iso(a.coolingUntil!) }
            : {}),
          ...(a.prefix ? { prefix: a.prefix } : {}),
          ...(i.releasing.has(a.ip) ? { releasing: true } : {}),
        })),
      })),
    allocations: [...core.pool.allocations.values()].map((a) => core.pool.toAllocation(a)),
    cloud: {
      recentCalls: core.budget.recent(),
      totals: { ...core.budget.totals },
      waitingOn: r.waitingOn(),
      ...core.cloudState(),
    },
  };
}
