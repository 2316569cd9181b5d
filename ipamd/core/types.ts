// The seam between the daemon's core (pool engine, store, reconciler, allocator: the state logic) and its
// edges (gRPC server, introspection, metrics, process main). The core implements Ipam; the edges call it
// and observe it through IpamObserver.

export interface AllocationKey {
  network: string;
  containerId: string;
  ifname: string;
}

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
  netns: string;
}

export interface Allocation {
  key: AllocationKey;
  pod: PodRef;
  address: string;
  interfaceId: string;
  deviceNumber: number;
  /** 254 (main) for the primary interface, device number + 1 otherwise. */
  routeTable: number;
  subnetGateway: string;
  subnetCidr: string;
  allocatedAt: number;
}

export interface AllocateOutcome {
  allocation: Allocation;
  /** Time the request spent parked waiting for the pool (0 on a warm pool). */
  waitedMs: number;
  /** True when a repeated ADD returned the existing allocation. */
  reused: boolean;
}

export interface PoolStatus {
  ready: boolean;
  message: string;
  free: number;
  assigned: number;
  cooling: number;
  total: number;
  /** Addresses this node can hold for pods at most (instance limits, MAX_ENI, max pods). */
  capacity: number;
  interfaces: number;
  parked: number;
}

/** Thrown when the node holds every address it can (instance limits, MAX_ENI) and none is free. */
export class NodeFullError extends Error {
  readonly grpcCode = 8; // RESOURCE_EXHAUSTED
}
/** Thrown when a parked Allocate waited TIDEPOOL_ADD_WAIT_MS without getting an address. */
export class PoolWaitTimeoutError extends Error {
  readonly grpcCode = 14; // UNAVAILABLE: the plugin maps it to CNI code 11 (try again later)
}
/** Thrown in the incumbent comparison mode when the pool is empty: the ADD fails at once. */
export class PoolEmptyError extends Error {
  readonly grpcCode = 8; // RESOURCE_EXHAUSTED
}
/** Thrown when the daemon is shutting down and no longer accepts allocations. */
export class ShuttingDownError extends Error {
  readonly grpcCode = 14; // UNAVAILABLE
}

/**
 * What the daemon sees of the account and of its subnets, for metrics and introspection: the pacing of
 * each API class (ipamd/cloud/pacing.ts) and each subnet's free addresses as the cloud last answered them
 * (ipamd/cloud/subnet-watch.ts).
 */
export interface CloudState {
  /** One entry per API class; empty when pacing is off. */
  pacing: PacingState[];
  /** Subnets the daemon has heard of from the cloud; empty before the first answer. */
  subnets: SubnetState[];
}
export interface PacingState {
  apiClass: string;
  /** Paced now: the cloud throttled this class and its rate has not climbed back to unpaced yet. */
  paced: boolean;
  /** The send rate in force while paced, calls/s; null when unpaced. */
  ratePerSec: number | null;
  /** Multiplicative decreases since the daemon started. */
  decreases: number;
}
export interface SubnetState {
  id: string;
  /** Free addresses at the cloud's last answer (0 after a subnet-full answer). */
  free: number;
  /** Usable addresses of the subnet (its size less the 5 the cloud keeps); 0 when not known yet. */
  usable: number;
  /** Subnet scarcity mode is on for nodes of this subnet. */
  scarce: boolean;
  /** How fast the free addresses fell between answers, addresses per minute (0: not falling or not known). */
  drainPerMin: number;
  /** When the cloud last answered for it, ISO time. */
  seenAt: string;
}

export interface Ipam {
  allocate(key: AllocationKey, pod: PodRef): Promise<AllocateOutcome>;
  /** Idempotent: returns null when there was nothing to release. The address starts cooling. */
  release(key: AllocationKey, reason: string): Promise<Allocation | null>;
  check(key: AllocationKey): Allocation | null;
  /** Releases every allocation of `network` not in `valid`; returns the released addresses. */
  gc(network: string, valid: { containerId: string; ifname: string }[]): Promise<string[]>;
  status(): PoolStatus;
  /** Everything introspection shows: interfaces, addresses and their states, allocations, recent cloud calls. */
  snapshot(): unknown;
  /** Pacing and subnets as the daemon sees them now (a core without a cloud side has none). */
  cloudState?(): CloudState;
}

export type CloudCallOutcome = 'ok' | 'throttled' | 'error';

/** Hooks the core calls so the edges can export metrics and logs without the core knowing prom-client. */
export interface IpamObserver {
  cloudCall(action: string, ms: number, outcome: CloudCallOutcome, error?: string): void;
  allocated(waitedMs: number, totalMs: number): void;
  allocateFailed(reason: string): void;
  released(): void;
  /** Called whenever the pool changes; the edges read status() for gauges. */
  poolChanged(): void;
  /** The pool was empty (free = 0) for `ms` while requests were parked. */
  poolEmpty(ms: number): void;
}

export const noopObserver: IpamObserver = {
  cloudCall: () => {},
  allocated: () => {},
  allocateFailed: () => {},
  released: () => {},
  poolChanged: () => {},
  poolEmpty: () => {},
};
