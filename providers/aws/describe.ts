// Read-side EC2 helpers shared by the provider's operations: paginated DescribeNetworkInterfaces, one ENI
// by id, the addresses other ENIs hold in a subnet, and subnet CIDRs (cached: a subnet's CIDR never changes).
import {
  DescribeNetworkInterfacesCommand,
  DescribeSubnetsCommand,
  type DescribeNetworkInterfacesCommandOutput,
  type DescribeSubnetsCommandOutput,
  type Filter,
  type NetworkInterface,
  type Subnet,
} from '@aws-sdk/client-ec2';
import { NotFoundError } from '../errors.js';
import type { Ec2 } from './ec2.js';

export async function describeEnis(ec2: Ec2, filters: Filter[], ids?: string[]): Promise<NetworkInterface[]> {
  const out: NetworkInterface[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.send<DescribeNetworkInterfacesCommandOutput>(
      'DescribeNetworkInterfaces',
      new DescribeNetworkInterfacesCommand({
        Filters: filters.length ? filters : undefined,
        NetworkInterfaceIds: ids,
        NextToken: token,
      }),
    );
    out.push(...(page.NetworkInterfaces ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}

/** One ENI; throws NotFoundError when EC2 no longer has it. */
export async function describeEni(ec2: Ec2, id: string): Promise<NetworkInterface> {
  const [ni] = await describeEnis(ec2, [], [id]);
  if (!ni)
    throw new NotFoundError(
      `network interface ${id} not found`,
      'InvalidNetworkInterfaceID.NotFound',
      'DescribeNetworkInterfaces',
    );
  return ni;
}

export const secondaryAddresses = (ni: NetworkInterface): string[] =>
  (ni.PrivateIpAddresses ?? [])
    .filter((p) => !p.Primary && p.PrivateIpAddress)
    .map((p) => p.PrivateIpAddress as string);

export const prefixesOf = (ni: NetworkInterface): string[] =>
  (ni.Ipv4Prefixes ?? []).map((p) => p.Ipv4Prefix ?? '').filter(Boolean);

/** Every address (primary and secondary) and prefix held by ENIs of the subnet other than `exceptId`. */
export function othersInSubnet(
  enis: NetworkInterface[],
  exceptId: string,
): { addresses: Map<string, string>; prefixes: Map<string, string> } {
  const addresses = new Map<string, string>();
  const prefixes = new Map<string, string>();
  for (const ni of enis) {
    if (ni.NetworkInterfaceId === exceptId) continue;
    const id = ni.NetworkInterfaceId ?? '?';
    for (const p of ni.PrivateIpAddresses ?? [])
      if (p.PrivateIpAddress) addresses.set(p.PrivateIpAddress, id);
    if (ni.PrivateIpAddress) addresses.set(ni.PrivateIpAddress, id);
    for (const p of prefixesOf(ni)) prefixes.set(p, id);
  }
  return { addresses, prefixes };
}

export class SubnetCache {
  private readonly cidrs = new Map<string, string>();
  constructor(private readonly ec2: Ec2) {}

  remember(id: string, cidr: string): void {
    if (id && cidr) this.cidrs.set(id, cidr);
  }

  async cidrOf(ids: string[]): Promise<Map<string, string>> {
    const missing = [...new Set(ids)].filter((id) => id && !this.cidrs.has(id));
    if (missing.length)
      for (const s of await describeSubnets(this.ec2, [], missing))
        this.remember(s.SubnetId ?? '', s.CidrBlock ?? '');
    return new Map(ids.map((id) => [id, this.cidrs.get(id) ?? '']));
  }
}

export async function describeSubnets(ec2: Ec2, filters: Filter[], ids?: string[]): Promise<Subnet[]> {
  const out: Subnet[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.send<DescribeSubnetsCommandOutput>(
      'DescribeSubnets',
      new DescribeSubnetsCommand({
        Filters: filters.length ? filters : undefined,
        SubnetIds: ids,
        NextToken: token,
      }),
    );
    out.push(...(page.Subnets ?? []));
    token = page.NextToken;
  } while (token);
  return out;
}
