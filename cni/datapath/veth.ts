// The veth pair. It is created from inside the pod namespace with its peer placed straight into the host
// namespace (as the AWS VPC CNI does since PR #3764), so no end is ever moved between namespaces. Both MACs
// are random, locally administered and set explicitly: the pod's static neighbour entry points at the host
// end's MAC, which must not be rewritten later by udev's MACAddressPolicy=persistent (AWS issue #2103).
import { randomBytes } from './random.js';
import { GONE, type Line } from './batch.js';

export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0] & 0xfe) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export interface VethSpec {
  podIfname: string;
  podMac: string;
  hostName: string;
  hostMac: string;
  mtu: number;
  /** The host namespace as the pod-side `ip` sees it: /proc/<plugin pid>/ns/net. */
  hostNetns: string;
}

/** Run inside the pod namespace: creates the pair with the pod end up (one message) and the host end down. */
export function addVeth(v: VethSpec): Line[] {
  return [
    {
      cmd:
        `link add ${v.podIfname} address ${v.podMac} mtu ${v.mtu} up type veth ` +
        `peer name ${v.hostName} address ${v.hostMac} mtu ${v.mtu} netns ${v.hostNetns}`,
      op: {
        op: 'vethAdd',
        name: v.podIfname,
        mac: v.podMac,
        mtu: v.mtu,
        peer: v.hostName,
        peerMac: v.hostMac,
        peerNetns: v.hostNetns,
        up: 1,
      },
    },
  ];
}

/** Run in the host namespace: brings the host end up. */
export function linkUp(name: string): Line[] {
  return [{ cmd: `link set ${name} up`, op: { op: 'linkSet', name } }];
}

/** Run in the host namespace: gives the host end its final name and brings it up. */
export function renameAndUp(temporary: string, name: string): Line[] {
  return [
    { cmd: `link set ${temporary} name ${name}`, op: { op: 'linkSet', name: temporary, peer: name } },
    ...linkUp(name),
  ];
}

/** Deleting either end deletes the pair; deleting what is gone is not an error. */
export function deleteLink(name: string): Line[] {
  return [{ cmd: `link del ${name}`, tolerate: GONE, op: { op: 'linkDel', name } }];
}
