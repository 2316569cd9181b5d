// What the node learns about itself from IMDS (reference aws-vpc-cni.md 4.5): identity, placement and the
// per-MAC interface tree. IMDS trails EC2 by seconds (cloud-api-figures.md 3), so the provider uses it for
// the node's identity and primary interface, and EC2 (DescribeNetworkInterfaces) as the truth for the
// pool; readImdsInterfaces() exists for reconcile-style comparisons and for tests of the IMDS fake.
import type { ImdsClient } from './imds.js';

export interface ImdsInterface {
  mac: string;
  interfaceId: string;
  deviceNumber: number;
  networkCard: number;
  subnetId: string;
  subnetCidr: string;
  vpcId: string;
  vpcCidrs: string[];
  securityGroupIds: string[];
  /** First is the interface's primary address (as IMDS lists it). */
  localIpv4s: string[];
  ipv4Prefixes: string[];
}

export interface InstanceMetadata {
  instanceId: string;
  instanceType: string;
  zone: string;
  region: string;
  primaryMac: string;
  primaryAddress: string;
}

const MD = '/latest/meta-data';

const lines = (v: string | null): string[] =>
  (v ?? '')
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);

export async function readInstanceMetadata(imds: ImdsClient): Promise<InstanceMetadata> {
  const [instanceId, instanceType, zone, mac, localIpv4] = await Promise.all([
    imds.require(`${MD}/instance-id`),
    imds.require(`${MD}/instance-type`),
    imds.require(`${MD}/placement/availability-zone`),
    imds.require(`${MD}/mac`),
    imds.require(`${MD}/local-ipv4`),
  ]);
  return {
    instanceId: instanceId.trim(),
    instanceType: instanceType.trim(),
    zone: zone.trim(),
    region: await readRegion(imds, zone.trim()),
    primaryMac: mac.trim().toLowerCase(),
    primaryAddress: localIpv4.trim(),
  };
}

/** placement/region, else the identity document (what the SDKs use), else the zone minus its letter. */
async function readRegion(imds: ImdsClient, zone: string): Promise<string> {
  const region = await imds.get(`${MD}/placement/region`);
  if (region?.trim()) return region.trim();
  const doc = await imds.get('/latest/dynamic/instance-identity/document');
  if (doc) {
    try {
      const r = (JSON.parse(doc) as { region?: string }).region;
      if (r) return r;
    } catch {
      // fall through to the zone
    }
  }
  return zone.replace(/[a-z]$/, '');
}

export async function readImdsInterface(imds: ImdsClient, mac: string): Promise<ImdsInterface> {
  const base = `${MD}/network/interfaces/macs/${mac}`;
  const [interfaceId, deviceNumber, networkCard, subnetId, subnetCidr, vpcId, vpcCidrs, sgs, ips, prefixes] =
    await Promise.all([
      imds.require(`${base}/interface-id`),
      imds.require(`${base}/device-number`),
      imds.get(`${base}/network-card`),
      imds.require(`${base}/subnet-id`),
      imds.require(`${base}/subnet-ipv4-cidr-block`),
      imds.require(`${base}/vpc-id`),
      imds.get(`${base}/vpc-ipv4-cidr-blocks`),
      imds.get(`${base}/security-group-ids`),
      imds.get(`${base}/local-ipv4s`),
      imds.get(`${base}/ipv4-prefix`),
    ]);
  return {
    mac,
    interfaceId: interfaceId.trim(),
    deviceNumber: Number(deviceNumber.trim()),
    networkCard: networkCard ? Number(networkCard.trim()) : 0,
    subnetId: subnetId.trim(),
    subnetCidr: subnetCidr.trim(),
    vpcId: vpcId.trim(),
    vpcCidrs: lines(vpcCidrs),
    securityGroupIds: lines(sgs),
    localIpv4s: lines(ips),
    ipv4Prefixes: lines(prefixes),
  };
}

/** Every interface IMDS lists now, by device number. A MAC whose keys 404 (still appearing, or detached and
 *  lingering — reference 3) is skipped rather than failing the whole read. */
export async function readImdsInterfaces(imds: ImdsClient): Promise<ImdsInterface[]> {
  const macs = lines(await imds.get(`${MD}/network/interfaces/macs/`)).map((m) =>
    m.replace(/\/$/, '').toLowerCase(),
  );
  const out: ImdsInterface[] = [];
  for (const mac of macs) {
    try {
      out.push(await readImdsInterface(imds, mac));
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
    }
  }
  return out.sort((a, b) => a.deviceNumber - b.deviceNumber);
}
