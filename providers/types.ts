// The cloud boundary (ARCHITECTURE section 6). One narrow interface, shaped for both clouds:
// - AWS assigns N addresses (or /28 prefixes) to an ENI in one call and attaches ENIs at runtime;
// - Azure rewrites a NIC's whole ipConfigurations list (read-modify-write, one writer per NIC),
//   allows 256 addresses per VM and cannot hot-attach NICs (attachInterface throws UnsupportedError).
// The pool engine never knows which cloud it talks to.

export type Hypervisor = 'nitro' | 'xen' | 'unknown';

/** Capacity of an instance type. ipv4PerInterface includes the interface's own primary address. */
export interface InstanceLimits {
  instanceType: string;
  maxInterfaces: number;
  ipv4PerInterface: number;
  hypervisor: Hypervisor;
  bareMetal: boolean;
  vcpus: number;
  /** Addresses per VM across all interfaces (Azure: 256); undefined where the cloud sets no such cap. */
  maxAddressesPerInstance?: number;
}

export interface NodeInfo {
  instanceId: string;
  instanceType: string;
  zone: string;
  vpcId: string;
  vpcCidrs: string[];
  /** Subnet of the primary interface; new interfaces go here unless subnet discovery picks another. */
  subnetId: string;
  subnetCidr: string;
  primaryInterfaceId: string;
  primaryAddress: string;
  primaryMac: string;
  securityGroups: string[];
  limits: InstanceLimits;
}

export interface CloudInterface {
  id: string;
  mac: string;
  deviceNumber: number;
  subnetId: string;
  subnetCidr: string;
  /** The interface's own address; never given to a pod. */
  primaryAddress: string;
  /** Secondary addresses, dotted quads. */
  addresses: string[];
  /** Delegated IPv4 prefixes, as CIDRs ("10.0.16.32/28"). */
  prefixes: string[];
  /** 'attached' normally; 'available' for an interface created but not (or no longer) attached. */
  status: 'attached' | 'available' | 'detaching';
  tags: Record<string, string>;
  /** Epoch ms when the cloud created the interface, when known. */
  createdAt?: number;
}

export interface AttachRequest {
  subnetId: string;
  securityGroups: string[];
  deviceIndex: number;
  /** Secondary addresses to request inline with the new interface (AWS CreateNetworkInterface). */
  addresses?: number;
  /** /28 prefixes to request inline instead (prefix delegation). */
  prefixes?: number;
  /** Idempotency token, also written to the intent journal and as a tag, so a crash can be repaired. */
  clientToken: string;
  tags?: Record<string, string>;
}

export interface SubnetInfo {
  id: string;
  cidr: string;
  zone: string;
  freeAddresses: number;
  tags: Record<string, string>;
}

/**
 * Journal of cloud calls in flight, kept by the daemon's store. A provider writes an intent before
 * every mutating call that creates or destroys an interface, and closes it when the call's effect is
 * durable in the cloud. After a crash, the daemon hands open intents back to repairIntents().
 */
export interface IntentJournal {
  begin(kind: string, details: Record<string, unknown>): number;
  update(id: number, details: Record<string, unknown>): void;
  end(id: number): void;
}

export interface OpenIntent {
  id: number;
  kind: string;
  details: Record<string, unknown>;
  createdAt: number;
}

export interface Provider {
  readonly name: string;
  /**
   * Every write is one long round trip whatever it carries (Azure: one NIC PUT of the whole NIC), so the
   * reconciler makes fewer, larger writes (ipamd/engine/flat-writes.ts). Unset: writes cost per item (EC2).
   */
  readonly flatWriteCost?: boolean;
  describeNode(): Promise<NodeInfo>;
  /** Interfaces attached to this node, with their addresses and prefixes, as the cloud sees them now. */
  listInterfaces(): Promise<CloudInterface[]>;
  /** Assigns up to `count` new secondary addresses; returns only the new ones. */
  assignAddresses(interfaceId: string, count: number): Promise<string[]>;
  /** Assigns `count` /28 prefixes; returns the new prefixes as CIDRs. */
  assignPrefixes(interfaceId: string, count: number): Promise<string[]>;
  releaseAddresses(interfaceId: string, addresses: string[]): Promise<void>;
  releasePrefixes(interfaceId: string, prefixes: string[]): Promise<void>;
  /** Creates, tags and attaches a new interface, returning it with any inline addresses. */
  attachInterface(req: AttachRequest): Promise<CloudInterface>;
  detachAndDeleteInterface(interfaceId: string): Promise<void>;
  /** Subnets a new interface may use, most free addresses first (AWS subnet discovery). */
  listSubnets?(): Promise<SubnetInfo[]>;
  /**
   * Repairs the effects of calls cut short by a crash (open intents), e.g. deletes an unattached ENI.
   * Returns the ids of the intents it could not settle: the daemon leaves those open, to be tried again at
   * its next start, and ends the others.
   */
  repairIntents?(intents: OpenIntent[]): Promise<number[]>;
  /** Deletes interfaces tagged for this cluster that are unattached and older than `minAgeMs`. */
  sweepLeakedInterfaces?(minAgeMs: number): Promise<string[]>;
  setJournal?(journal: IntentJournal): void;
  close?(): Promise<void>;
}
