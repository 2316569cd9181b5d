// The sim's records (what the cloud holds), the views it answers with (what a Describe call returns), the
// events it streams, and the JSON shape of its persisted state.

export interface SubnetRecord {
  id: string;
  cidr: string;
  zone: string;
  tags: Record<string, string>;
}

export interface InstanceRecord {
  id: string;
  type: string;
  zone: string;
  subnetId: string;
  primaryInterfaceId: string;
  securityGroups: string[];
  launchedAt: number;
}

export interface AttachmentRecord {
  instanceId: string;
  deviceIndex: number;
  attachmentId: string;
  at: number;
}

export interface InterfaceRecord {
  id: string;
  mac: string;
  subnetId: string;
  description: string;
  securityGroups: string[];
  primaryAddress: string;
  /** Secondary address → epoch ms when assigned (for visibility lag). */
  addresses: Map<string, number>;
  /** /28 prefix → epoch ms when assigned. */
  prefixes: Map<string, number>;
  /** Recently released addresses/prefixes, still shown by Describe* until the visibility lag passes. */
  released: { value: string; prefix: boolean; at: number }[];
  tags: Record<string, string>;
  createdAt: number;
  clientToken?: string;
  attachment?: AttachmentRecord;
  /** Set by DetachNetworkInterface: the interface is `detaching` until `until`, then `available`. */
  detaching?: AttachmentRecord & { until: number };
}

export type InterfaceStatus = 'available' | 'in-use' | 'detaching';

/** What DescribeNetworkInterfaces returns for one interface. */
export interface InterfaceView {
  id: string;
  mac: string;
  subnetId: string;
  subnetCidr: string;
  zone: string;
  vpcId: string;
  description: string;
  securityGroups: string[];
  primaryAddress: string;
  addresses: string[];
  prefixes: string[];
  status: InterfaceStatus;
  attachment?: { instanceId: string; deviceIndex: number; attachmentId: string };
  tags: Record<string, string>;
  createdAt: number;
}

export interface InstanceView {
  id: string;
  type: string;
  zone: string;
  vpcId: string;
  vpcCidr: string;
  subnetId: string;
  subnetCidr: string;
  primaryInterfaceId: string;
  primaryAddress: string;
  primaryMac: string;
  securityGroups: string[];
  launchedAt: number;
}

export interface SubnetView {
  id: string;
  cidr: string;
  zone: string;
  vpcId: string;
  availableIpAddressCount: number;
  tags: Record<string, string>;
}

export type SimEvent = { seq: number; at: number } & (
  | {
      type: 'instance-launched';
      instanceId: string;
      instanceType: string;
      zone: string;
      subnetCidr: string;
      primaryInterfaceId: string;
      primaryAddress: string;
      mac: string;
    }
  | { type: 'instance-terminated'; instanceId: string }
  | {
      type: 'interface-attached';
      instanceId: string;
      interfaceId: string;
      mac: string;
      deviceNumber: number;
      subnetCidr: string;
      primaryAddress: string;
    }
  | { type: 'interface-detached'; instanceId: string; interfaceId: string; mac: string; deviceNumber: number }
  | {
      type: 'addresses-assigned';
      instanceId: string;
      interfaceId: string;
      addresses: string[];
      prefixes: string[];
    }
  | {
      type: 'addresses-released';
      instanceId: string;
      interfaceId: string;
      addresses: string[];
      prefixes: string[];
    }
);

/** A SimEvent before the cloud stamps it with seq and at. */
export type SimEventBody = SimEvent extends infer E
  ? E extends SimEvent
    ? Omit<E, 'seq' | 'at'>
    : never
  : never;

export interface CallRecord {
  seq: number;
  action: string;
  at: number;
  ms: number;
  /** 'ok' or the error code. */
  outcome: string;
  instanceId?: string;
}

export interface CallStats {
  calls: number;
  ok: number;
  throttled: number;
  errors: Record<string, number>;
  totalMs: number;
}

export interface SimStateJson {
  format: 'tidepool-sim/1';
  region: string;
  vpc: { id: string; cidr: string; defaultSecurityGroup: string };
  subnets: SubnetRecord[];
  instances: InstanceRecord[];
  interfaces: (Omit<InterfaceRecord, 'addresses' | 'prefixes' | 'released'> & {
    addresses: [string, number][];
    prefixes: [string, number][];
  })[];
  rng: number;
  buckets: Record<string, { tokens: number; at: number }>;
  eventSeq: number;
}
