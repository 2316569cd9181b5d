// EC2's NetworkInterface shape → the provider seam's CloudInterface.
import type { NetworkInterface } from '@aws-sdk/client-ec2';
import type { CloudInterface } from '../types.js';
import { TAG_CREATED_AT, tagMap } from './tags.js';

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
    mac: (ni.MacAddress ?? '').toLowerCase(),
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
