// The pod's address: a /32 on the pod interface, with no on-link subnet (ARCHITECTURE section 3): every
// packet leaves through the 169.254.1.1 gateway, which is the host end of the veth.
import type { Line } from './batch.js';

export function addPodAddress(ifname: string, address: string): Line[] {
  return [
    {
      cmd: `addr add ${address}/32 dev ${ifname}`,
      op: { op: 'addrAdd', name: ifname, ip: address, prefix: 32 },
    },
  ];
}
