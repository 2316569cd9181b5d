// The whole pod datapath of ARCHITECTURE section 3, composed from the per-object line builders: what runs
// inside the pod namespace, what runs in the host namespace, and how it is torn down.
import { addPodAddress } from './addr.js';
import { ipBatch, type Line } from './batch.js';
import { addGatewayNeighbour } from './neigh.js';
import { hostNetnsPath } from './netns.js';
import { hostLinks, hostRoutes32 } from './procnet.js';
import { addHostRoute, addPodRoutes, deleteHostRoute } from './route.js';
import { setStrictRpFilter } from './rpfilter.js';
import { addPodRules, deletePodRules } from './rule.js';
import { addVeth, deleteLink, randomMac, renameAndUp } from './veth.js';

export interface PodPlan {
  netns: string;
  podIfname: string;
  podMac: string;
  hostVeth: string;
  hostMac: string;
  /** Name of the host end until the pod side is complete. */
  temporaryName: string;
  address: string;
  routeTable: number;
  mtu: number;
}

export function planPod(p: Omit<PodPlan, 'podMac' | 'hostMac'>): PodPlan {
  return { ...p, podMac: randomMac(), hostMac: randomMac() };
}

/** Inside the pod: the veth (peer in the host namespace), the /32, the gateway routes and neighbour. */
export async function setUpPodSide(p: PodPlan): Promise<void> {
  const lines: Line[] = [
    ...addVeth({ ...p, hostName: p.temporaryName, hostNetns: hostNetnsPath() }),
    ...addPodAddress(p.podIfname, p.address),
    ...addPodRoutes(p.podIfname),
    ...addGatewayNeighbour(p.podIfname, p.hostMac),
  ];
  await ipBatch(lines, { netns: p.netns });
}

/**
 * In the host: strict rp_filter (set while the link is still down, under its temporary name; the setting
 * follows the device), the final name in place of any stale link of that name, the /32 route and the rules.
 */
export async function setUpHostSide(p: PodPlan): Promise<void> {
  setStrictRpFilter(p.temporaryName);
  await ipBatch(
    [
      ...deleteLink(p.hostVeth),
      ...renameAndUp(p.temporaryName, p.hostVeth),
      ...addHostRoute(p.address, p.hostVeth),
      ...addPodRules(p.address, p.routeTable),
    ],
    { force: true },
  );
}

/**
 * Removes the route and rules of each address, and the host veth its /32 route leads to when that veth is
 * one of `candidates` (names this attachment may have used). An address whose route leads elsewhere now
 * serves another pod and is left alone, as is a candidate that carries none of our addresses (a pod
 * re-created under the same name owns it). `owned` links are removed in any case (an ADD's own rollback).
 * Returns the veths removed.
 */
export async function tearDownHost(
  addresses: string[],
  candidates: string[],
  owned: string[] = [],
): Promise<string[]> {
  const links = hostLinks();
  const routes = hostRoutes32();
  const removed = new Set(owned.filter((v) => links.has(v)));
  const lines: Line[] = [];
  for (const a of new Set(addresses)) {
    const dev = routes.get(a);
    if (dev !== undefined && !candidates.includes(dev) && !owned.includes(dev)) continue;
    if (dev !== undefined) {
      removed.add(dev);
      lines.push(...deleteHostRoute(a, dev));
    }
    lines.push(...deletePodRules(a));
  }
  await ipBatch([...[...removed].flatMap(deleteLink), ...lines], { force: true });
  return [...removed];
}

/** Removes the pod interface from inside the pod namespace (when the host end could not be found). */
export async function deletePodInterface(netns: string, ifname: string): Promise<void> {
  await ipBatch(deleteLink(ifname), { netns, force: true });
}
