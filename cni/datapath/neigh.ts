// The permanent neighbour entry for the pod's gateway: 169.254.1.1 answers for no ARP, so the pod must
// know the host veth's MAC in advance.
import type { Line } from './batch.js';

export const POD_GATEWAY = '169.254.1.1';

export function addGatewayNeighbour(ifname: string, hostMac: string): Line[] {
  return [
    {
      cmd: `neigh add ${POD_GATEWAY} lladdr ${hostMac} dev ${ifname} nud permanent`,
      op: { op: 'neighAdd', name: ifname, ip: POD_GATEWAY, mac: hostMac },
    },
  ];
}
