// The AWS provider: IMDSv2 for who the node is, EC2 for everything the pool does. EC2's view
// (DescribeNetworkInterfaces) is the truth for listInterfaces(); IMDS trails it by seconds.
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { Settings } from '../../config/settings.js';
import { realClock, type Clock } from '../clock.js';
import type {
  AttachRequest,
  CloudInterface,
  IntentJournal,
  NodeInfo,
  OpenIntent,
  Provider,
  SubnetInfo,
} from '../types.js';
import { assign, release } from './assign.js';
import type { AwsContext, CrashPoint } from './context.js';
import { toCloudInterface } from './convert.js';
import { describeEnis, describeSubnets, SubnetCache } from './describe.js';
import { Ec2, silentLog, type CallObserver, type ProviderLog } from './ec2.js';
import { attachInterface, detachAndDelete } from './eni-lifecycle.js';
import { ImdsClient } from './imds.js';
import { fetchInstanceLimits } from './limits.js';
import {
  readImdsInterface,
  readImdsInterfaces,
  readInstanceMetadata,
  type ImdsInterface,
} from './metadata.js';
import { repairIntents, sweepLeaked } from './repair.js';
import { SUBNET_ROLE_TAG, tagMap } from './tags.js';

export interface AwsProviderOptions {
  log?: ProviderLog;
  /** Called after every EC2 call (the daemon's metrics and "recent cloud calls"). */
  observer?: CallObserver;
  clock?: Clock;
  /** Region override (AWS_REGION); default: the instance's region from IMDS. */
  region?: string;
  /** Tests: a prebuilt IMDS or EC2 client. */
  imds?: ImdsClient;
  ec2Client?: EC2Client;
  /** Test hook: die (SIGKILL) at this point of an ENI operation. */
  crashAt?: CrashPoint | null;
}

/** In prefix mode a single secondary address is a /32 prefix: what assignPrefixes' fallback returned. */
function asPrefixMode(ctx: AwsContext, ci: CloudInterface): CloudInterface {
  if (!ctx.prefixMode || ci.addresses.length === 0) return ci;
  return { ...ci, prefixes: [...ci.prefixes, ...ci.addresses.map((a) => `${a}/32`)], addresses: [] };
}

export class AwsProvider implements Provider {
  readonly name = 'aws';
  readonly imds: ImdsClient;
  private ctx: AwsContext | null = null;
  private journal: IntentJournal | null = null;
  private readonly log: ProviderLog;
  private readonly clock: Clock;

  constructor(
    private readonly settings: Settings,
    private readonly opts: AwsProviderOptions = {},
  ) {
    this.log = opts.log ?? silentLog;
    this.clock = opts.clock ?? realClock;
    this.imds = opts.imds ?? new ImdsClient({ endpoint: settings.cloud.imdsEndpoint });
  }

  /** EC2 calls sent so far, by action (benchmarks, tests). Empty before describeNode(). */
  get calls(): Map<string, number> {
    return this.ctx?.ec2.calls ?? new Map();
  }

  /** EC2 requests on the wire right now. */
  get pendingRequests(): number {
    return this.ctx?.ec2.pending ?? 0;
  }

  async describeNode(): Promise<NodeInfo> {
    return (await this.context()).node;
  }

  async listInterfaces(): Promise<CloudInterface[]> {
    const ctx = await this.context();
    const enis = await describeEnis(ctx.ec2, [
      { Name: 'attachment.instance-id', Values: [ctx.node.instanceId] },
    ]);
    const cidrs = await ctx.subnets.cidrOf(enis.map((n) => n.SubnetId ?? ''));
    return enis
      .map((ni) => asPrefixMode(ctx, toCloudInterface(ni, cidrs.get(ni.SubnetId ?? '') ?? '')))
      .sort((a, b) => a.deviceNumber - b.deviceNumber);
  }

  /** The interfaces IMDS reports now (trails EC2); for reconcile comparisons and diagnostics. */
  async listImdsInterfaces(): Promise<ImdsInterface[]> {
    return readImdsInterfaces(this.imds);
  }

  async assignAddresses(interfaceId: string, count: number): Promise<string[]> {
    return assign(await this.context(), interfaceId, count, 'addresses');
  }

  async assignPrefixes(interfaceId: string, count: number): Promise<string[]> {
    return assign(await this.context(), interfaceId, count, 'prefixes');
  }

  async releaseAddresses(interfaceId: string, addresses: string[]): Promise<void> {
    await release(await this.context(), interfaceId, addresses, 'addresses');
  }

  /** /32 entries are single addresses of the no-/28 fallback (see assign.ts) and are released as such. */
  async releasePrefixes(interfaceId: string, prefixes: string[]): Promise<void> {
    const ctx = await this.context();
    const singles = prefixes.filter((p) => p.endsWith('/32')).map((p) => p.slice(0, -3));
    await release(ctx, interfaceId, singles, 'addresses');
    await release(
      ctx,
      interfaceId,
      prefixes.filter((p) => !p.endsWith('/32')),
      'prefixes',
    );
  }

  async attachInterface(req: AttachRequest): Promise<CloudInterface> {
    const ctx = await this.context();
    return asPrefixMode(ctx, await attachInterface(ctx, req, () => this.listSubnets()));
  }

  async detachAndDeleteInterface(interfaceId: string): Promise<void> {
    const ctx = await this.context();
    if (interfaceId === ctx.node.primaryInterfaceId)
      throw new Error(`refusing to delete ${interfaceId}: it is the node's primary interface`);
    await detachAndDelete(ctx, interfaceId);
  }

  /**
   * Subnet discovery (reference aws-vpc-cni.md 4.1/4.2): subnets of the node's VPC and zone tagged
   * `kubernetes.io/role/cni=1`, plus the node's own subnet unless tagged `0`, most free addresses first.
   * With ENABLE_SUBNET_DISCOVERY=false only the node's own subnet.
   */
  async listSubnets(): Promise<SubnetInfo[]> {
    const ctx = await this.context();
    const filters = ctx.subnetDiscovery
      ? [
          { Name: 'vpc-id', Values: [ctx.node.vpcId] },
          { Name: 'availability-zone', Values: [ctx.node.zone] },
        ]
      : [];
    const subnets = await describeSubnets(
      ctx.ec2,
      filters,
      ctx.subnetDiscovery ? undefined : [ctx.node.subnetId],
    );
    const out: SubnetInfo[] = [];
    for (const s of subnets) {
      const tags = tagMap(s.Tags);
      const own = s.SubnetId === ctx.node.subnetId;
      const role = tags[SUBNET_ROLE_TAG];
      if (ctx.subnetDiscovery && !(role === '1' || (own && role !== '0'))) continue;
      ctx.subnets.remember(s.SubnetId ?? '', s.CidrBlock ?? '');
      out.push({
        id: s.SubnetId ?? '',
        cidr: s.CidrBlock ?? '',
        zone: s.AvailabilityZone ?? '',
        freeAddresses: s.AvailableIpAddressCount ?? 0,
        tags,
      });
    }
    return out.sort((a, b) => b.freeAddresses - a.freeAddresses || a.id.localeCompare(b.id));
  }

  async repairIntents(intents: OpenIntent[]): Promise<number[]> {
    return repairIntents(await this.context(), intents);
  }

  async sweepLeakedInterfaces(minAgeMs: number): Promise<string[]> {
    return sweepLeaked(await this.context(), minAgeMs);
  }

  setJournal(journal: IntentJournal): void {
    this.journal = journal;
    if (this.ctx) this.ctx.journal = journal;
  }

  async close(): Promise<void> {
    this.ctx?.ec2.client.destroy();
  }

  private pending: Promise<AwsContext> | null = null;

  /** Reads IMDS and the instance type once; every operation runs on the node it describes. */
  private context(): Promise<AwsContext> {
    if (this.ctx) return Promise.resolve(this.ctx);
    this.pending ??= this.build().finally(() => (this.pending = null));
    return this.pending;
  }

  private async build(): Promise<AwsContext> {
    const md = await readInstanceMetadata(this.imds);
    const primary = await readImdsInterface(this.imds, md.primaryMac);
    const ec2 = new Ec2({
      region: this.opts.region || md.region,
      endpoint: this.settings.cloud.ec2Endpoint,
      log: this.log,
      observer: this.opts.observer,
      client: this.opts.ec2Client,
    });
    const limits = await fetchInstanceLimits(ec2, md.instanceType, this.log);
    const node: NodeInfo = {
      instanceId: md.instanceId,
      instanceType: md.instanceType,
      zone: md.zone,
      vpcId: primary.vpcId,
      vpcCidrs: primary.vpcCidrs,
      subnetId: primary.subnetId,
      subnetCidr: primary.subnetCidr,
      primaryInterfaceId: primary.interfaceId,
      primaryAddress: md.primaryAddress || primary.localIpv4s[0] || '',
      primaryMac: md.primaryMac,
      securityGroups: primary.securityGroupIds,
      limits,
    };
    const subnets = new SubnetCache(ec2);
    subnets.remember(node.subnetId, node.subnetCidr);
    this.ctx = {
      ec2,
      node,
      clock: this.clock,
      log: this.log,
      subnets,
      journal: this.journal,
      clusterName: this.settings.cloud.clusterName,
      additionalTags: this.settings.cloud.additionalEniTags,
      subnetDiscovery: this.settings.cloud.subnetDiscovery,
      maxEni: this.settings.pool.maxEni,
      crashAt: this.opts.crashAt ?? null,
      prefixMode: this.settings.pool.prefixDelegation,
      burntTokens: new Map(),
    };
    this.log.info(
      { instanceId: node.instanceId, instanceType: node.instanceType, zone: node.zone, limits },
      'AWS node described',
    );
    return this.ctx;
  }
}
