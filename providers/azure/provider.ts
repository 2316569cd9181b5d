// The Azure provider: IMDS for who the node is, ARM (Microsoft.Network networkInterfaces) for its pod
// addresses, a managed identity for the token. Pod addresses are secondary IP configurations on the VM's
// primary NIC, the NIC in the subnet IMDS reports first: a VM holds at most 256 private addresses across
// all its NICs (reference cloud-api-figures.md 4), so other NICs add no pod capacity, and NICs cannot be
// attached to a running VM, so attachInterface is refused and the pool sees one interface it cannot grow
// past (limits.maxInterfaces = 1). The other NICs' addresses count against the VM's 256.
import type { NetworkInterface } from '@azure/arm-network';
import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import type { Settings } from '../../config/settings.js';
import { cidrContains } from '../../config/net.js';
import { realClock, type Clock } from '../clock.js';
import { CloudError, SubnetFullError, UnsupportedError } from '../errors.js';
import type { CloudInterface, NodeInfo, Provider } from '../types.js';
import { Arm } from './arm.js';
import { toCloudError } from './errors.js';
import { readInstanceMetadata, normaliseMac, type InstanceMetadata } from './imds.js';
import { AZURE_ADDRESSES_PER_VM, vmLimits } from './limits.js';
import { itemOf, NicWriter, weightOf, type WriterLog } from './nic-writer.js';

export interface AzureLog extends WriterLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silent: AzureLog = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

export interface AzureProviderOptions {
  log?: AzureLog;
  clock?: Clock;
  /** Tests: a credential of their own instead of the managed identity. */
  credential?: TokenCredential;
  /** Poll interval of the PUT's long-running operation when ARM sends no Retry-After (default 1000). */
  pollIntervalMs?: number;
  /** Test hook: runs after a NIC PUT completed and before its read-back. */
  afterPut?: () => void;
  /**
   * false: plan as if writes cost per item (the benchmark's "before"); default true, as a NIC PUT costs
   * one long round trip whatever it carries (Provider.flatWriteCost).
   */
  flatWriteCost?: boolean;
}

interface AzureContext {
  node: NodeInfo;
  md: InstanceMetadata;
  resourceGroup: string;
  nicName: string;
  /** Addresses held by the VM's other NICs (they count against the VM's 256). */
  otherNicAddresses: number;
  writer: NicWriter;
}

const nameOf = (id: string) => id.split('/').pop() ?? id;
const sameId = (a?: string, b?: string) => !!a && !!b && a.toLowerCase() === b.toLowerCase();

export class AzureProvider implements Provider {
  readonly name = 'azure';
  readonly arm: Arm;
  readonly flatWriteCost: boolean;
  private ctx: AzureContext | null = null;
  private pending: Promise<AzureContext> | null = null;
  private readonly log: AzureLog;
  private readonly clock: Clock;
  private subscriptionId = '';

  constructor(
    private readonly settings: Settings,
    private readonly opts: AzureProviderOptions = {},
  ) {
    this.log = opts.log ?? silent;
    this.flatWriteCost = opts.flatWriteCost ?? true;
    this.clock = opts.clock ?? realClock;
    const az = settings.cloud.azure;
    const credential =
      opts.credential ?? new ManagedIdentityCredential(az.clientId ? { clientId: az.clientId } : undefined);
    this.arm = new Arm({
      credential,
      endpoint: az.armEndpoint,
      pollIntervalMs: opts.pollIntervalMs ?? 1000,
    });
  }

  /** ARM requests sent so far, by operation. */
  get calls(): Map<string, number> {
    return this.arm.calls;
  }

  /** NIC PUTs made by the writer. */
  get puts(): number {
    return this.ctx?.writer.puts ?? 0;
  }

  async describeNode(): Promise<NodeInfo> {
    return (await this.context()).node;
  }

  async listInterfaces(): Promise<CloudInterface[]> {
    const ctx = await this.context();
    const nic = await this.arm.getNic(ctx.resourceGroup, ctx.nicName);
    return [this.toInterface(ctx, nic)];
  }

  async assignAddresses(interfaceId: string, count: number): Promise<string[]> {
    return (await this.writerFor(interfaceId)).add(count, 'address');
  }

  /** /28 IP configurations; when the subnet has no free /28, single addresses as /32 "prefixes" (as on AWS). */
  async assignPrefixes(interfaceId: string, count: number): Promise<string[]> {
    const writer = await this.writerFor(interfaceId);
    try {
      return await writer.add(count, 'prefix');
    } catch (err) {
      if (!(err instanceof SubnetFullError)) throw err;
      this.log.warn({ interfaceId, count }, 'no free /28 in the subnet; assigning single addresses instead');
      return (await writer.add(count * 16, 'address')).map((a) => `${a}/32`);
    }
  }

  async releaseAddresses(interfaceId: string, addresses: string[]): Promise<void> {
    await (await this.writerFor(interfaceId)).release(addresses);
  }

  async releasePrefixes(interfaceId: string, prefixes: string[]): Promise<void> {
    const items = prefixes.map((p) => (p.endsWith('/32') ? p.slice(0, -3) : p));
    await (await this.writerFor(interfaceId)).release(items);
  }

  attachInterface(): Promise<CloudInterface> {
    return Promise.reject(
      new UnsupportedError(
        'Azure attaches NICs only to a deallocated VM: a running node cannot gain one',
        'NicAttachRequiresDeallocatedVm',
        'AttachInterface',
      ),
    );
  }

  detachAndDeleteInterface(interfaceId: string): Promise<void> {
    return Promise.reject(
      new UnsupportedError(
        `refusing to detach ${interfaceId}: Azure detaches NICs only from a deallocated VM`,
        'NicDetachRequiresDeallocatedVm',
        'DetachInterface',
      ),
    );
  }

  async close(): Promise<void> {}

  private async writerFor(interfaceId: string): Promise<NicWriter> {
    const ctx = await this.context();
    if (interfaceId !== ctx.nicName)
      throw new CloudError(
        `${interfaceId} is not this node's pod NIC (${ctx.nicName})`,
        'NotThePodNic',
        'PutNetworkInterface',
      );
    return ctx.writer;
  }

  private toInterface(ctx: AzureContext, nic: NetworkInterface): CloudInterface {
    const ipcs = nic.ipConfigurations ?? [];
    const primary = ipcs.find((c) => c.primary) ?? ipcs[0];
    const ok = ipcs.filter(
      (c) => c !== primary && (c.provisioningState ?? '').toLowerCase() === 'succeeded' && itemOf(c),
    );
    const items = ok.map(itemOf);
    const prefixMode = this.settings.pool.prefixDelegation;
    const singles = items.filter((i) => !i.includes('/'));
    const blocks = items.filter((i) => i.includes('/'));
    return {
      id: ctx.nicName,
      mac: ctx.node.primaryMac,
      deviceNumber: 0,
      subnetId: primary?.subnet?.id ?? ctx.node.subnetId,
      subnetCidr: ctx.node.subnetCidr,
      primaryAddress: primary?.privateIPAddress ?? ctx.node.primaryAddress,
      addresses: prefixMode ? [] : singles,
      prefixes: prefixMode ? [...blocks, ...singles.map((a) => `${a}/32`)] : blocks,
      status: 'attached',
      tags: { ...(nic.tags ?? {}) },
    };
  }

  private context(): Promise<AzureContext> {
    if (this.ctx) return Promise.resolve(this.ctx);
    this.pending ??= this.build().finally(() => (this.pending = null));
    return this.pending;
  }

  private async build(): Promise<AzureContext> {
    const az = this.settings.cloud.azure;
    const md = await readInstanceMetadata({ endpoint: this.settings.cloud.imdsEndpoint });
    this.subscriptionId = az.subscriptionId || md.subscriptionId.toLowerCase();
    this.arm.useSubscription(this.subscriptionId);
    const resourceGroup = az.resourceGroup || md.resourceGroupName;
    const primaryImds = md.nics[0];
    let nics: NetworkInterface[];
    try {
      nics = (await this.arm.listNics(resourceGroup)).filter((n) =>
        sameId(n.virtualMachine?.id, md.resourceId),
      );
    } catch (err) {
      throw toCloudError(err, 'ListNetworkInterfaces');
    }
    // The pod NIC: the ARM NIC with IMDS's first MAC whose primary address lies in IMDS's subnet.
    const inSubnet = nics.find((n) => {
      const p = (n.ipConfigurations ?? []).find((c) => c.primary) ?? n.ipConfigurations?.[0];
      return (
        normaliseMac(n.macAddress ?? '') === primaryImds.mac &&
        !!p?.privateIPAddress &&
        cidrContains(primaryImds.subnetCidr, p.privateIPAddress.split('/')[0])
      );
    });
    if (!inSubnet) {
      const seen = nics.map((n) => {
        const p = (n.ipConfigurations ?? []).find((c) => c.primary) ?? n.ipConfigurations?.[0];
        return `${n.name} (${normaliseMac(n.macAddress ?? '')}, ${p?.privateIPAddress ?? 'no address'})`;
      });
      throw new CloudError(
        `VM ${md.name} has no NIC in subnet ${primaryImds.subnetCidr} with MAC ${primaryImds.mac} ` +
          `(IMDS's primary NIC); resource group ${resourceGroup} lists for this VM: ${seen.join(', ') || 'no NIC'}. ` +
          `Check AZURE_RESOURCE_GROUP and that the NIC's primary IP configuration is in that subnet`,
        'NoNicInSubnet',
        'DescribeNode',
      );
    }
    const limits = vmLimits(md.vmSize, 1);
    const otherNicAddresses = nics
      .filter((n) => n !== inSubnet)
      .reduce((sum, n) => sum + (n.ipConfigurations ?? []).reduce((k, c) => k + weightOf(c), 0), 0);
    // Validate the VM's NIC count against its size, then describe capacity on the one pod NIC.
    const sized = vmLimits(md.vmSize, nics.length);
    if (nics.length > sized.maxInterfaces)
      this.log.warn(
        { vmSize: md.vmSize, nics: nics.length, max: sized.maxInterfaces },
        'the VM has more NICs than its size allows',
      );
    limits.maxAddressesPerInstance = AZURE_ADDRESSES_PER_VM - otherNicAddresses;
    const primary = (inSubnet.ipConfigurations ?? []).find((c) => c.primary) ?? inSubnet.ipConfigurations![0];
    const vnetId = (primary.subnet?.id ?? '').replace(/\/subnets\/[^/]+$/i, '');
    const node: NodeInfo = {
      instanceId: md.vmId,
      instanceType: md.vmSize,
      zone: md.zone ? `${md.location}-${md.zone}` : md.location,
      vpcId: vnetId,
      vpcCidrs: [primaryImds.subnetCidr],
      subnetId: primary.subnet?.id ?? '',
      subnetCidr: primaryImds.subnetCidr,
      primaryInterfaceId: inSubnet.name!,
      primaryAddress: (primary.privateIPAddress ?? '').split('/')[0],
      primaryMac: primaryImds.mac,
      securityGroups: (primary.applicationSecurityGroups ?? []).map((g) => g.id ?? '').filter(Boolean),
      limits,
    };
    const writer = new NicWriter({
      arm: this.arm,
      resourceGroup,
      nicName: inSubnet.name!,
      clock: this.clock,
      log: this.log,
      vmRoom: () => AZURE_ADDRESSES_PER_VM - otherNicAddresses,
      afterPut: this.opts.afterPut,
    });
    this.ctx = {
      node,
      md,
      resourceGroup,
      nicName: nameOf(inSubnet.id ?? inSubnet.name!),
      otherNicAddresses,
      writer,
    };
    this.log.info(
      { vm: md.name, vmSize: md.vmSize, nic: this.ctx.nicName, subnet: node.subnetCidr, limits },
      'Azure node described',
    );
    return this.ctx;
  }
}
