// The pool engine's view of the node: interfaces, their addresses (each free, assigned or cooling) and
// their /28 prefixes, plus the node's capacity. Plain data, so the engine is a pure function of it
// (ARCHITECTURE section 4) and a table of cases tests it completely.

import { PREFIX_SIZE } from '../../providers/capacity.js';

export { PREFIX_SIZE };

export type AddressState = 'free' | 'assigned' | 'cooling';

export interface PoolAddress {
  ip: string;
  state: AddressState;
  /** Epoch ms when a cooling address may be reused; a cooling address past this time is free. */
  coolingUntil?: number;
  /** The /28 the address belongs to (prefix delegation); undefined for a secondary address. */
  prefix?: string;
}

export interface PoolInterface {
  id: string;
  deviceNumber: number;
  subnetId: string;
  primary: boolean;
  /** Epoch ms the interface joined the pool: an interface is never freed in its first 60 s. */
  attachedAt: number;
  addresses: PoolAddress[];
  /** Delegated /28 prefixes (their addresses are in `addresses` with `prefix` set). */
  prefixes: string[];
  /**
   * Slots the cloud lists as taken that hold nothing of the pool's (an emulator listing one address twice,
   * or an address the pool holds on another interface): never planned into.
   */
  blockedSlots?: number;
}

export interface PoolState {
  interfaces: PoolInterface[];
}

/** What the node can hold, from the instance type, MAX_ENI and max pods. */
export interface PoolCapacity {
  instanceType: string;
  /** Interfaces the pool may use: min(instance limit, MAX_ENI). */
  maxInterfaces: number;
  /** IPv4 slots per interface including its primary address (AWS IPv4Limit). */
  ipv4PerInterface: number;
  /** Max pods of the node; the pool stops growing once it holds this many addresses. */
  maxPods: number;
  /** Per-VM address cap (Azure: 256), when the cloud has one. */
  maxAddressesPerInstance?: number;
}

/** Demand the engine sees besides the pool itself. */
export interface PoolDemand {
  /** Allocate requests parked for want of an address; counted as if already assigned. */
  parked: number;
  /** Learned allocation rate (allocations per second), for the adaptive policy. */
  addRatePerSec: number;
  /** Learned release rate of held addresses (per second), the same way; 0 when not known. */
  releaseRatePerSec?: number;
  /**
   * The allocation and release rates over the last burst window (about one round trip, at most 10 s): they
   * follow a burst that has just begun, where the decaying rates above lag. Flat-cost writes only.
   */
  recentAddRatePerSec?: number;
  recentReleaseRatePerSec?: number;
  /** Observed duration of a cloud round trip that adds addresses, ms (adaptive policy). */
  roundTripMs: number;
  /** Most requests seen within one round trip during the last few minutes (adaptive policy). */
  burstPeak?: number;
  /** The largest such burst of the last HPA_TREND_MS (an HPA step whose double may follow). */
  recentBurst?: number;
}

export interface PoolTargets {
  warmEniTarget: number;
  warmIpTarget: number;
  minimumIpTarget: number;
  warmPrefixTarget: number;
  prefixDelegation: boolean;
  cooldownMs: number;
}

export type PoolAction =
  | { kind: 'assign'; interfaceId: string; count: number; unit: 'address' | 'prefix' }
  | { kind: 'attach'; deviceNumber: number; count: number; unit: 'address' | 'prefix' }
  | { kind: 'release'; interfaceId: string; addresses: string[]; prefixes: string[] }
  | { kind: 'detach'; interfaceId: string };

/** The AWS timers the shrink path obeys (reference aws-vpc-cni.md 3.1). */
export const DECREASE_INTERVAL_MS = 30_000;
export const MIN_ENI_LIFETIME_MS = 60_000;

export interface PlanInput {
  state: PoolState;
  demand: PoolDemand;
  targets: PoolTargets;
  capacity: PoolCapacity;
  now: number;
  /** When the pool last released addresses (the 30 s decrease gap); 0 if never. */
  lastDecreaseAt: number;
  /**
   * The incumbent's accounting (comparison mode): cooling addresses count as available, parked
   * requests are not demand. Tidepool's own accounting never counts a cooling address as available.
   */
  coolingCountsAsAvailable: boolean;
}

export function isCooling(a: PoolAddress, now: number): boolean {
  return a.state === 'cooling' && (a.coolingUntil ?? 0) > now;
}

export function isFree(a: PoolAddress, now: number): boolean {
  return a.state === 'free' || (a.state === 'cooling' && (a.coolingUntil ?? 0) <= now);
}

/** Secondary-address slots per interface (the primary address is never a pod's). */
export function slotsPerInterface(capacity: PoolCapacity): number {
  return capacity.ipv4PerInterface - 1;
}
