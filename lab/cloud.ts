// The seam between the lab and the cloud it emulates nodes in: the sim (lab/sim-cloud.ts), LocalStack
// (lab/localstack-cloud.ts: instances through EC2's API, the fabric polling DescribeNetworkInterfaces) and
// Azure (lab/azure-cloud.ts: VMs and NICs in the ARM double, the fabric polling the NICs' IP
// configurations) implement it: which processes to run, how to launch an instance, the daemons'
// environment, and the fabric's event source.
import type { FabricEventSource } from './events.js';
import type { Manifest } from './manifest.js';

export interface LaunchedInstance {
  instanceId: string;
  instanceType: string;
  primaryInterfaceId: string;
  primaryAddress: string;
  mac: string;
  subnetCidr: string;
  zone?: string;
}

/** A process the lab must run for the cloud (e.g. the sim server), in the vpc namespace. */
export interface CloudProcess {
  name: string;
  argv: string[];
  env: Record<string, string>;
  /** Resolves when the process serves (e.g. its socket answers); rejects with a clear error otherwise. */
  ready: () => Promise<void>;
}

export interface LabCloud {
  readonly provider: string;
  /** Processes to start before anything else (empty when the cloud runs elsewhere). */
  processes(): CloudProcess[];
  vpcCidrs(): Promise<string[]>;
  launchInstance(instanceType: string, nodeName: string): Promise<LaunchedInstance>;
  /** Environment of a node's daemon that points it at this cloud, as that node's instance. */
  daemonEnv(instanceId: string): Record<string, string>;
  eventSource(): FabricEventSource;
}

export type CloudFactory = (m: Manifest) => LabCloud;
