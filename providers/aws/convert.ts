// EC2's NetworkInterface shape → the provider seam's CloudInterface.
import type { NetworkInterface } from '@aws-sdk/client-ec2';
import type { CloudInterface } from '../types.js';
import { TAG_CREATED_AT, tagMap } from './tags.js';

/**
 * moto (under LocalStack 4.14.0) formats generated MACs wrongly — `02:00:00:20102x:4502x:12902x`, a
 * decimal octet followed by a literal `02x` — which no kernel accepts for a link. Such an octet is read
 * back as the decimal it holds; a well-formed MAC (all of AWS's) passes through unchanged.
 */
export function normalizeMac(mac: string): string {
  const m = mac.toLowerCase();
  if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(m)) return m;
  return m
    .split(':')
    .map((o) => {
      const dec = /^(\d{1,3})02x$/.exec(o);
      const n = dec ? Number(dec[1]) : parseInt(o, 16);
      return (Number.isFinite(n) ? n & 0xff : 0).toString(16).padStart(2, '0');
    })
    .join(':');
}

export function toCloudInterface(ni: NetworkInterface, subnetCidr: string): CloudInterface {
  const ips = ni.PrivateIpAddresses ?? [];
  const primary = ips.find((p) => p.Primary)?.PrivateIpAddress ?? ni.PrivateIpAddress ?? '';
  const tags = tagMap(ni.TagSet);
  const created = Date.parse(tags[TAG_CREATED_AT] ?? '');
  const att = ni.Attachment;
  let status: CloudInterface['status'] = 'available';
  if (att && (att.Status === 'attached' || att.Status === 'attaching')) status = 'attached';
  else if (att && att.Status === 'detaching') status = 'detaching';
  return {
    id: ni.NetworkInterfaceId ?? '',
    mac: normalizeMac(ni.MacAddress ?? ''),
    deviceNumber: att?.DeviceIndex ?? -1,
    subnetId: ni.SubnetId ?? '',
    subnetCidr,
    primaryAddress: primary,
    addresses: ips.filter((p) => !p.Primary && p.PrivateIpAddress).map((p) => p.PrivateIpAddress as string),
    prefixes: (ni.Ipv4Prefixes ?? []).map((p) => p.Ipv4Prefix ?? '').filter(Boolean),
    status,
    tags,
    createdAt: Number.isFinite(created) ? created : undefined,
  };
}
