// Routes. Pod side: the link-scope route to the gateway and the default route through it. Host side: the
// /32 route to the pod through its veth, in the main table.
import { GONE, type Line } from './batch.js';
import { POD_GATEWAY } from './neigh.js';

export function addPodRoutes(ifname: string): Line[] {
  return [
    {
      cmd: `route add ${POD_GATEWAY} dev ${ifname} scope link`,
      op: { op: 'routeAdd', name: ifname, ip: POD_GATEWAY, prefix: 32, linkScope: 1 },
    },
    {
      cmd: `route add default via ${POD_GATEWAY} dev ${ifname}`,
      op: { op: 'routeAdd', name: ifname, prefix: 0, gw: POD_GATEWAY },
    },
  ];
}

export function addHostRoute(address: string, veth: string): Line[] {
  return [
    {
      cmd: `route replace ${address}/32 dev ${veth} scope link`,
      op: { op: 'routeAdd', name: veth, ip: address, prefix: 32, linkScope: 1, replace: 1 },
    },
  ];
}

export function deleteHostRoute(address: string, veth?: string): Line[] {
  return [{ cmd: `route del ${address}/32${veth ? ` dev ${veth}` : ''} table main`, tolerate: GONE }];
}
