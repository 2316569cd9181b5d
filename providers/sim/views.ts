// What Describe* calls answer. With a visibility lag, a Describe call sees the cloud as it was `lag` ms
// ago for recent changes (section 7: "Assign → visible in Describe*: 1 s"; cilium #36428): new addresses
// and attachments are not shown yet, released ones and detached attachments still are.

import type {
  InstanceRecord,
  InstanceView,
  InterfaceRecord,
  InterfaceView,
  SubnetRecord,
  SubnetView,
} from './model.js';
import type { SimTopology } from './topology.js';

export function isVisible(rec: InterfaceRecord, now: number, lag: number): boolean {
  return rec.createdAt + lag <= now;
}

export function describeInterface(
  topo: SimTopology,
  rec: InterfaceRecord,
  now: number,
  lag: number,
): InterfaceView {
  const subnet = topo.subnets.get(rec.subnetId)!;
  const addresses: string[] = [];
  const prefixes: string[] = [];
  for (const [ip, at] of rec.addresses) if (at + lag <= now) addresses.push(ip);
  for (const [p, at] of rec.prefixes) if (at + lag <= now) prefixes.push(p);
  for (const t of rec.released) if (t.at + lag > now) (t.prefix ? prefixes : addresses).push(t.value);

  let status: InterfaceView['status'] = 'available';
  let att: InterfaceRecord['attachment'];
  if (rec.attachment && rec.attachment.at + lag <= now) {
    status = 'in-use';
    att = rec.attachment;
  } else if (rec.detaching) {
    att = rec.detaching;
    status = rec.detaching.at + lag > now ? 'in-use' : now < rec.detaching.until ? 'detaching' : 'available';
    if (status === 'available') att = undefined;
  }
  const view: InterfaceView = {
    id: rec.id,
    mac: rec.mac,
    subnetId: rec.subnetId,
    subnetCidr: subnet.cidr,
    zone: subnet.zone,
    vpcId: topo.vpc.id,
    description: rec.description,
    securityGroups: [...rec.securityGroups],
    primaryAddress: rec.primaryAddress,
    addresses,
    prefixes,
    status,
    tags: { ...rec.tags },
    createdAt: rec.createdAt,
  };
  if (att)
    view.attachment = {
      instanceId: att.instanceId,
      deviceIndex: att.deviceIndex,
      attachmentId: att.attachmentId,
    };
  return view;
}

export function describeInstance(topo: SimTopology, inst: InstanceRecord): InstanceView {
  const eni = topo.interfaces.get(inst.primaryInterfaceId)!;
  const subnet = topo.subnets.get(inst.subnetId)!;
  return {
    id: inst.id,
    type: inst.type,
    zone: inst.zone,
    vpcId: topo.vpc.id,
    vpcCidr: topo.vpc.cidr,
    subnetId: subnet.id,
    subnetCidr: subnet.cidr,
    primaryInterfaceId: eni.id,
    primaryAddress: eni.primaryAddress,
    primaryMac: eni.mac,
    securityGroups: [...inst.securityGroups],
    launchedAt: inst.launchedAt,
  };
}

export function describeSubnet(topo: SimTopology, s: SubnetRecord): SubnetView {
  return {
    id: s.id,
    cidr: s.cidr,
    zone: s.zone,
    vpcId: topo.vpc.id,
    availableIpAddressCount: topo.pools.get(s.id)!.free,
    tags: { ...s.tags },
  };
}
