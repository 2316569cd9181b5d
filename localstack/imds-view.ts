// Pure part of the IMDS fake: EC2's description of an instance → the metadata tree IMDS would serve
// (paths of reference aws-vpc-cni.md 4.5). Directories list their children one a line, sub-directories
// with a trailing "/", as the real service does.
import type { Instance, NetworkInterface, Subnet, Vpc } from '@aws-sdk/client-ec2';
import { normalizeMac } from '../providers/aws/convert.js';

export interface ImdsEni {
  mac: string;
  interfaceId: string;
  deviceNumber: number;
  subnetId: string;
  subnetCidr: string;
  vpcId: string;
  vpcCidrs: string[];
  securityGroupIds: string[];
  securityGroupNames: string[];
  /** Primary first, as IMDS lists them. */
  localIpv4s: string[];
  ipv4Prefixes: string[];
  ownerId: string;
}

export interface InstanceView {
  instanceId: string;
  instanceType: string;
  imageId: string;
  zone: string;
  region: string;
  localIpv4: string;
  primaryMac: string;
  enis: ImdsEni[];
}

export function instanceView(
  inst: Instance,
  enis: NetworkInterface[],
  subnets: Subnet[],
  vpc: Vpc | undefined,
  region: string,
): InstanceView {
  const cidrOf = new Map(subnets.map((s) => [s.SubnetId ?? '', s.CidrBlock ?? '']));
  const vpcCidrs = vpc?.CidrBlockAssociationSet?.map((a) => a.CidrBlock ?? '').filter(Boolean) ?? [];
  if (!vpcCidrs.length && vpc?.CidrBlock) vpcCidrs.push(vpc.CidrBlock);
  const attached = enis
    .filter(
      (e) => e.Attachment && e.Attachment.Status !== 'detached' && e.Attachment.DeviceIndex !== undefined,
    )
    .map<ImdsEni>((e) => {
      const ips = e.PrivateIpAddresses ?? [];
      const primary = ips.find((p) => p.Primary)?.PrivateIpAddress ?? e.PrivateIpAddress ?? '';
      const secondary = ips
        .filter((p) => !p.Primary && p.PrivateIpAddress)
        .map((p) => p.PrivateIpAddress as string);
      return {
        mac: normalizeMac(e.MacAddress ?? ''),
        interfaceId: e.NetworkInterfaceId ?? '',
        deviceNumber: e.Attachment?.DeviceIndex ?? 0,
        subnetId: e.SubnetId ?? '',
        subnetCidr: cidrOf.get(e.SubnetId ?? '') ?? '',
        vpcId: e.VpcId ?? '',
        vpcCidrs,
        securityGroupIds: (e.Groups ?? []).map((g) => g.GroupId ?? '').filter(Boolean),
        securityGroupNames: (e.Groups ?? []).map((g) => g.GroupName ?? '').filter(Boolean),
        localIpv4s: [primary, ...secondary].filter(Boolean),
        ipv4Prefixes: (e.Ipv4Prefixes ?? []).map((p) => p.Ipv4Prefix ?? '').filter(Boolean),
        ownerId: e.OwnerId ?? '000000000000',
      };
    })
    .sort((a, b) => a.deviceNumber - b.deviceNumber);
  const primary = attached.find((e) => e.deviceNumber === 0);
  return {
    instanceId: inst.InstanceId ?? '',
    instanceType: inst.InstanceType ?? '',
    imageId: inst.ImageId ?? '',
    zone: inst.Placement?.AvailabilityZone ?? `${region}a`,
    region,
    localIpv4: inst.PrivateIpAddress ?? primary?.localIpv4s[0] ?? '',
    primaryMac: primary?.mac ?? '',
    enis: attached,
  };
}

/** Leaf paths (under /latest/meta-data) → values. */
function leaves(v: InstanceView): Map<string, string> {
  const m = new Map<string, string>();
  m.set('ami-id', v.imageId);
  m.set('instance-id', v.instanceId);
  m.set('instance-type', v.instanceType);
  m.set('local-ipv4', v.localIpv4);
  m.set('mac', v.primaryMac);
  m.set('placement/availability-zone', v.zone);
  m.set('placement/region', v.region);
  for (const e of v.enis) {
    const b = `network/interfaces/macs/${e.mac}`;
    m.set(`${b}/device-number`, String(e.deviceNumber));
    m.set(`${b}/interface-id`, e.interfaceId);
    m.set(`${b}/local-ipv4s`, e.localIpv4s.join('\n'));
    if (e.ipv4Prefixes.length) m.set(`${b}/ipv4-prefix`, e.ipv4Prefixes.join('\n'));
    m.set(`${b}/mac`, e.mac);
    m.set(`${b}/network-card`, '0');
    m.set(`${b}/owner-id`, e.ownerId);
    m.set(`${b}/security-group-ids`, e.securityGroupIds.join('\n'));
    m.set(`${b}/security-groups`, e.securityGroupNames.join('\n'));
    m.set(`${b}/subnet-id`, e.subnetId);
    m.set(`${b}/subnet-ipv4-cidr-block`, e.subnetCidr);
    m.set(`${b}/vpc-id`, e.vpcId);
    m.set(`${b}/vpc-ipv4-cidr-block`, e.vpcCidrs[0] ?? '');
    m.set(`${b}/vpc-ipv4-cidr-blocks`, e.vpcCidrs.join('\n'));
  }
  return m;
}

/** A lookup function: request path → body, or null for 404. */
export function metadataTree(v: InstanceView): (path: string) => string | null {
  const leaf = leaves(v);
  const identity = JSON.stringify(
    {
      accountId: v.enis[0]?.ownerId ?? '000000000000',
      architecture: 'x86_64',
      availabilityZone: v.zone,
      imageId: v.imageId,
      instanceId: v.instanceId,
      instanceType: v.instanceType,
      privateIp: v.localIpv4,
      region: v.region,
      version: '2017-09-30',
    },
    null,
    2,
  );
  return (path: string) => {
    if (path === '/latest/dynamic/instance-identity/document') return identity;
    if (path === '/latest/dynamic/instance-identity' || path === '/latest/dynamic/instance-identity/')
      return 'document';
    const m = /^\/latest\/meta-data\/?(.*)$/.exec(path);
    if (!m) return null;
    const rel = m[1].replace(/\/$/, '');
    if (rel && leaf.has(rel)) return leaf.get(rel)!;
    const prefix = rel ? `${rel}/` : '';
    const children = new Set<string>();
    for (const key of leaf.keys()) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const slash = rest.indexOf('/');
      children.add(slash < 0 ? rest : `${rest.slice(0, slash)}/`);
    }
    return children.size ? [...children].sort().join('\n') : null;
  };
}
