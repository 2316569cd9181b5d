// The sim provider in the caller's own process, over a SimCloud object: for virtual-time tests and
// benchmarks (latency is clock.sleep on the cloud's injected clock). The daemon uses the out-of-process
// server (client.ts) instead, so that cloud state outlives a daemon crash.

import { SimCloud, type SimCloudOptions } from './cloud.js';
import { SimNodeProvider } from './node.js';

export interface InProcessSimOptions {
  cloud: SimCloud;
  instanceId: string;
  clusterName?: string;
  /** How long detachAndDeleteInterface retries an "in use" delete, in the cloud clock's ms. Default 60000. */
  deleteRetryMs?: number;
}

export class InProcessSimProvider extends SimNodeProvider {
  readonly cloud: SimCloud;

  constructor(opts: InProcessSimOptions) {
    super(opts.cloud.ec2, {
      instanceId: opts.instanceId,
      clock: opts.cloud.clock,
      clusterName: opts.clusterName,
      deleteRetryMs: opts.deleteRetryMs,
    });
    if (!opts.cloud.topology.instances.has(opts.instanceId)) {
      throw new Error(
        `sim: no instance ${opts.instanceId} in this cloud; launch it first (cloud.launchInstance)`,
      );
    }
    this.cloud = opts.cloud;
  }
}

/** Launches an instance of `instanceType` in `cloud` and returns its provider. */
export function launchSimNode(
  cloud: SimCloud,
  opts: { instanceType: string; instanceId?: string; zone?: string; subnetId?: string; clusterName?: string },
): InProcessSimProvider {
  const inst = cloud.launchInstance(opts);
  return new InProcessSimProvider({ cloud, instanceId: inst.id, clusterName: opts.clusterName });
}

/** A new cloud plus one launched instance, in one call: `createSimNode({ clock, instanceType: 'm5.large' })`. */
export function createSimNode(
  opts: SimCloudOptions & {
    instanceType?: string;
    instanceId?: string;
    zone?: string;
    clusterName?: string;
  } = {},
): { cloud: SimCloud; provider: InProcessSimProvider; instanceId: string } {
  const { instanceType = 'm5.large', instanceId, zone, clusterName, ...cloudOpts } = opts;
  const cloud = new SimCloud(cloudOpts);
  const provider = launchSimNode(cloud, { instanceType, instanceId, zone, clusterName });
  return { cloud, provider, instanceId: provider.instanceId };
}
