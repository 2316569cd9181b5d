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
import { temporaryVethName } from './names.js';
import { addVeth, deleteLink, linkUp, randomMac, renameAndUp } from './veth.js';

export interface PodPlan {
  netns: string;
  podIfname: string;
  podMac: string;
  hostVeth: string;
  hostMac: string;
  /**
   * The name the host end is created under: its final name, unless a link of that name is still there (the
   * veth of an earlier sandbox of this pod, replaced once the pod side is complete), then a temporary one.
   */
  createdAs: string;
  address: string;
  routeTable: number;
  mtu: number;
}

export function planPod(p: Omit<PodPlan, 'podMac' | 'hostMac' | 'createdAs'>): PodPlan {
  const createdAs = hostLinks().has(p.hostVeth) ? temporaryVethName() : p.hostVeth;
  return { ...p, createdAs, podMac: randomMac(), hostMac: randomMac() };
}

/** Inside the pod: the veth (peer in the host namespace), the /32, the gateway routes and neighbour. */
export async function setUpPodSide(p: PodPlan): Promise<void> {
  const lines: Line[] = [
    ...addVeth({ ...p, hostName: p.createdAs, hostNetns: hostNetnsPath() }),
    ...addPodAddress(p.podIfname, p.address),
    ...addPodRoutes(p.podIfname),
    ...addGatewayNeighbour(p.podIfname, p.hostMac),
  ];
  await ipBatch(lines, { netns: p.netns });
}

/**
 * In the host: strict rp_filter (set while the link is still down; the setting follows the device), the
 * host end up (under its final name in place of the stale link, if it was created under a temporary one),
 * the /32 route and the rules.
 */
export async function setUpHostSide(p: PodPlan): Promise<void> {
  setStrictRpFilter(p.createdAs);
  const link =
    p.createdAs === p.hostVeth
      ? linkUp(p.hostVeth)
      : [...deleteLink(p.hostVeth), ...renameAndUp(p.createdAs, p.hostVeth)];
  await ipBatch([...link, ...addHostRoute(p.address, p.hostVeth), ...addPodRules(p.address, p.routeTable)], {
    force: true,
  });
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

/**
 * Whether `name` is a host veth as Tidepool names them (hostVethName: the prefix and 11 hex digits). DEL and
 * GC never remove a host link of another name, whatever a prevResult or a /32 route says: the node's eth0
 * is never one of ours.
 */
export function isTidepoolVeth(prefix: string, name: string): boolean {
  return name.startsWith(prefix) && /^[0-9a-f]{11}$/.test(name.slice(prefix.length));
}
