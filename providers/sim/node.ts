// The Provider of one node (instance) of the sim cloud, written against the EC2 surface (SimEc2) the way
// the AWS provider is written against EC2: attachInterface = CreateNetworkInterface + AttachNetworkInterface
// (deleting the new interface if the attach fails), detachAndDeleteInterface = Detach + Delete retried while
// the interface is still "in use" (section 7: about 3 s). The same class runs in-process (virtual time)
// and over the sim server's HTTP API, so a daemon crash between two calls leaves what EC2 would leave.

import { instanceLimits } from '../capacity.js';
import type { Clock } from '../clock.js';
import { realClock } from '../clock.js';
import { InUseError, NotFoundError, ThrottledError, TransientError } from '../errors.js';
import type {
  AttachRequest,
  CloudInterface,
  IntentJournal,
  NodeInfo,
  OpenIntent,
  Provider,
  SubnetInfo,
} from '../types.js';
import type { SimEc2 } from './api.js';
import type { InstanceView, InterfaceView } from './model.js';

/** Tags the sim provider puts on every interface it creates (names the owner, finds leaks). */
export const TAG_NODE = 'tidepool.io/instance-id';
export const TAG_CLIENT_TOKEN = 'tidepool.io/client-token';
export const TAG_CLUSTER = 'tidepool.io/cluster';

export interface SimNodeOptions {
  instanceId: string;
  /** Sleeps between "in use" retries of DeleteNetworkInterface; the cloud's clock in-process. */
  clock?: Clock;
  clusterName?: string;
  /** How long detachAndDeleteInterface keeps retrying the delete (ms of the clock). Default 60000. */
  deleteRetryMs?: number;
}

export class SimNodeProvider implements Provider {
  readonly name: string = 'sim';
  readonly instanceId: string;
  private readonly clock: Clock;
  private readonly deleteRetryMs: number;
  private journal?: IntentJournal;
  private node?: NodeInfo;

  constructor(
    protected readonly ec2: SimEc2,
    private readonly opts: SimNodeOptions,
  ) {
    this.instanceId = opts.instanceId;
    this.clock = opts.clock ?? realClock;
    this.deleteRetryMs = opts.deleteRetryMs ?? 60_000;
  }

  setJournal(journal: IntentJournal): void {
    this.journal = journal;
  }

  async describeNode(): Promise<NodeInfo> {
    const [inst] = await this.ec2.describeInstances({ instanceIds: [this.instanceId] });
    this.node = toNodeInfo(inst);
    return this.node;
  }

  async listInterfaces(): Promise<CloudInterface[]> {
    const views = await this.ec2.describeNetworkInterfaces({ instanceId: this.instanceId });
    return views.map(toCloudInterface);
  }

  async assignAddresses(interfaceId: string, count: number): Promise<string[]> {
    const r = await this.ec2.assignPrivateIpAddresses({ interfaceId, count });
    return r.addresses;
  }

  async assignPrefixes(interfaceId: string, count: number): Promise<string[]> {
    const r = await this.ec2.assignPrivateIpAddresses({ interfaceId, prefixCount: count });
    return r.prefixes;
  }

  async releaseAddresses(interfaceId: string, addresses: string[]): Promise<void> {
    if (addresses.length) await this.ec2.unassignPrivateIpAddresses({ interfaceId, addresses });
  }

  async releasePrefixes(interfaceId: string, prefixes: string[]): Promise<void> {
    if (prefixes.length) await this.ec2.unassignPrivateIpAddresses({ interfaceId, prefixes });
  }

  async attachInterface(req: AttachRequest): Promise<CloudInterface> {
    const intent = this.journal?.begin('attach-interface', {
      clientToken: req.clientToken,
      subnetId: req.subnetId,
      deviceIndex: req.deviceIndex,
    });
    const tags: Record<string, string> = {
      ...req.tags,
      [TAG_NODE]: this.instanceId,
      [TAG_CLIENT_TOKEN]: req.clientToken,
    };
    if (this.opts.clusterName) tags[TAG_CLUSTER] = this.opts.clusterName;
    const created = await this.ec2.createNetworkInterface({
      subnetId: req.subnetId,
      securityGroups: req.securityGroups.length ? req.securityGroups : undefined,
      description: `tidepool interface of ${this.instanceId}`,
      secondaryAddressCount: req.addresses || undefined,
      prefixCount: req.prefixes || undefined,
      clientToken: req.clientToken,
      tags,
    });
    if (intent !== undefined) this.journal!.update(intent, { interfaceId: created.id });
    try {
      await this.ec2.attachNetworkInterface({
        interfaceId: created.id,
        instanceId: this.instanceId,
        deviceIndex: req.deviceIndex,
      });
    } catch (err) {
      // Leave nothing behind: the interface was ours and is not attached. If this delete fails too, the
      // intent stays open and repairIntents() / sweepLeakedInterfaces() remove it later.
      await this.ec2.deleteNetworkInterface({ interfaceId: created.id }).then(
        () => intent !== undefined && this.journal!.end(intent),
        () => undefined,
      );
      throw err;
    }
    if (intent !== undefined) this.journal!.end(intent);
    return { ...toCloudInterface(created), status: 'attached', deviceNumber: req.deviceIndex };
  }

  async detachAndDeleteInterface(interfaceId: string): Promise<void> {
    const intent = this.journal?.begin('detach-interface', { interfaceId });
    await this.detachAndDelete(interfaceId);
    if (intent !== undefined) this.journal!.end(intent);
  }

  async listSubnets(): Promise<SubnetInfo[]> {
    const node = this.node ?? (await this.describeNode());
    const subnets = await this.ec2.describeSubnets({ zone: node.zone });
    return subnets
      .map((s) => ({
        id: s.id,
        cidr: s.cidr,
        zone: s.zone,
        freeAddresses: s.availableIpAddressCount,
        tags: s.tags,
      }))
      .sort((a, b) => b.freeAddresses - a.freeAddresses);
  }

  /**
   * Settles intents left open by a crash. attach-interface: the interface made with that client token is
   * kept if it is attached to this node (the daemon adopts it from listInterfaces), deleted otherwise.
   * detach-interface: the interface is detached and deleted if it still exists. It does not end the
   * intents: the caller ends them once this resolves (it throws, leaving them open, if one cannot be settled).
   */
  async repairIntents(intents: OpenIntent[]): Promise<number[]> {
    for (const intent of intents) {
      if (intent.kind === 'attach-interface') {
        const token = String(intent.details.clientToken ?? '');
        if (!token) continue;
        const found = await this.ec2.describeNetworkInterfaces({ tags: { [TAG_CLIENT_TOKEN]: token } });
        for (const eni of found) {
          if (eni.attachment?.instanceId === this.instanceId && eni.status === 'in-use') continue;
          if (eni.attachment?.instanceId === this.instanceId) await this.detachAndDelete(eni.id);
          else if (!eni.attachment) await this.deleteWhenFree(eni.id);
        }
      } else if (intent.kind === 'detach-interface') {
        await this.detachAndDelete(String(intent.details.interfaceId ?? ''));
      }
    }
    return [];
  }

  /** Deletes this node's (or this cluster's) interfaces that are unattached and older than `minAgeMs`. */
  async sweepLeakedInterfaces(minAgeMs: number): Promise<string[]> {
    const tags: Record<string, string> = this.opts.clusterName
      ? { [TAG_CLUSTER]: this.opts.clusterName }
      : { [TAG_NODE]: this.instanceId };
    const found = await this.ec2.describeNetworkInterfaces({ status: 'available', tags });
    const cutoff = this.clock.now() - minAgeMs;
    const deleted: string[] = [];
    for (const eni of found) {
      if (eni.createdAt > cutoff) continue;
      try {
        await this.ec2.deleteNetworkInterface({ interfaceId: eni.id });
        deleted.push(eni.id);
      } catch (err) {
        if (!(err instanceof NotFoundError || err instanceof InUseError)) throw err;
      }
    }
    return deleted;
  }

  private async detachAndDelete(interfaceId: string): Promise<void> {
    if (!interfaceId) return;
    try {
      await this.ec2.detachNetworkInterface({ interfaceId });
    } catch (err) {
      if (err instanceof NotFoundError) return; // gone already: done
      // IncorrectState: not attached (a retry after a lost reply); go on to the delete.
      if (!(err instanceof Error && 'code' in err && err.code === 'IncorrectState')) throw err;
    }
    await this.deleteWhenFree(interfaceId);
  }

  /** DeleteNetworkInterface, retried while EC2 still says "in use" (detach not complete) or throttles. */
  private async deleteWhenFree(interfaceId: string): Promise<void> {
    const deadline = this.clock.now() + this.deleteRetryMs;
    for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
      try {
        await this.ec2.deleteNetworkInterface({ interfaceId });
        return;
      } catch (err) {
        if (err instanceof NotFoundError) return;
        const retry =
          err instanceof InUseError || err instanceof ThrottledError || err instanceof TransientError;
        if (!retry || this.clock.now() + delay > deadline) throw err;
      }
      await this.clock.sleep(delay);
    }
  }
}

/** What a node knows of itself, from the sim's view of its instance. */
export function toNodeInfo(inst: InstanceView): NodeInfo {
  return {
    instanceId: inst.id,
    instanceType: inst.type,
    zone: inst.zone,
    vpcId: inst.vpcId,
    vpcCidrs: [inst.vpcCidr],
    subnetId: inst.subnetId,
    subnetCidr: inst.subnetCidr,
    primaryInterfaceId: inst.primaryInterfaceId,
    primaryAddress: inst.primaryAddress,
    primaryMac: inst.primaryMac,
    securityGroups: inst.securityGroups,
    limits: instanceLimits(inst.type),
  };
}

export function toCloudInterface(v: InterfaceView): CloudInterface {
  return {
    id: v.id,
    mac: v.mac,
    deviceNumber: v.attachment?.deviceIndex ?? -1,
    subnetId: v.subnetId,
    subnetCidr: v.subnetCidr,
    primaryAddress: v.primaryAddress,
    addresses: v.addresses,
    prefixes: v.prefixes,
    status: v.status === 'in-use' ? 'attached' : v.status,
    tags: v.tags,
    createdAt: v.createdAt,
  };
}
