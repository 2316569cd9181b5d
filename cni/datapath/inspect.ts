// Reads the datapath back with `ip -json` (one process per namespace) and lists every way it differs from
// what ADD built, for CHECK. Chained plugins may add routes or rules; only what ADD made is required.
import { GONE, ipBatch } from './batch.js';
import { POD_GATEWAY } from './neigh.js';
import { effectiveRpFilter } from './rpfilter.js';
import { FROM_POD_PRIORITY, MAIN_TABLE, TO_POD_PRIORITY } from './rule.js';

export interface Expected {
  netns: string;
  podIfname: string;
  hostVeth: string;
  hostMac?: string;
  address: string;
  routeTable: number;
}

type Json = Record<string, any>;
const parseLines = (out: string): Json[][] =>
  out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Json[]);

const tableName = (t: number) => (t === MAIN_TABLE ? 'main' : String(t));

/** What CHECK found wrong (empty: intact), and the link's MAC and MTU as the kernel has them. */
export interface Inspection {
  problems: string[];
  mac?: string;
  mtu?: number;
}

export async function inspectPod(e: Expected): Promise<Inspection> {
  const problems: string[] = [];
  const [addrs = [], routes = [], neighs = []] = parseLines(
    await ipBatch([{ cmd: 'addr show' }, { cmd: 'route show' }, { cmd: 'neigh show' }], {
      netns: e.netns,
      json: true,
    }),
  );
  const link = addrs.find((l) => l.ifname === e.podIfname);
  if (!link) return { problems: [`interface ${e.podIfname} is missing in ${e.netns}`] };
  if (!link.flags?.includes('UP')) problems.push(`${e.podIfname} is down`);
  if (!link.addr_info?.some((a: Json) => a.family === 'inet' && a.local === e.address && a.prefixlen === 32))
    problems.push(`${e.podIfname} lacks ${e.address}/32`);
  if (!routes.some((r) => r.dst === POD_GATEWAY && r.dev === e.podIfname && r.scope === 'link'))
    problems.push(`route ${POD_GATEWAY} dev ${e.podIfname} scope link is missing`);
  if (!routes.some((r) => r.dst === 'default' && r.gateway === POD_GATEWAY && r.dev === e.podIfname))
    problems.push(`default route via ${POD_GATEWAY} is missing`);
  const n = neighs.find((x) => x.dst === POD_GATEWAY && x.dev === e.podIfname);
  if (!n || !n.state?.includes('PERMANENT')) problems.push(`permanent neighbour ${POD_GATEWAY} is missing`);
  else if (e.hostMac && n.lladdr !== e.hostMac)
    problems.push(`neighbour ${POD_GATEWAY} is ${n.lladdr}, not ${e.hostMac}`);
  return { problems, mac: link.address, mtu: link.mtu };
}

export async function inspectHost(e: Expected): Promise<Inspection> {
  const problems: string[] = [];
  const [links = [], routes = [], rules = []] = parseLines(
    await ipBatch([{ cmd: 'link show' }, { cmd: 'route show table main' }, { cmd: 'rule show' }], {
      json: true,
    }),
  );
  const veth = links.find((l) => l.ifname === e.hostVeth);
  if (!veth) return { problems: [`host veth ${e.hostVeth} is missing`] };
  if (!veth.flags?.includes('UP')) problems.push(`${e.hostVeth} is down`);
  if (e.hostMac && veth.address !== e.hostMac)
    problems.push(`${e.hostVeth} has MAC ${veth.address}, not ${e.hostMac}`);
  if (!routes.some((r) => r.dst === e.address && r.dev === e.hostVeth))
    problems.push(`route ${e.address}/32 dev ${e.hostVeth} is missing`);
  if (!rules.some((r) => r.priority === TO_POD_PRIORITY && r.dst === e.address && r.table === 'main'))
    problems.push(`rule to ${e.address} lookup main priority ${TO_POD_PRIORITY} is missing`);
  const from = rules.filter((r) => r.priority === FROM_POD_PRIORITY && r.src === e.address);
  if (e.routeTable !== MAIN_TABLE && !from.some((r) => r.table === tableName(e.routeTable)))
    problems.push(`rule from ${e.address} lookup ${e.routeTable} priority ${FROM_POD_PRIORITY} is missing`);
  if (e.routeTable === MAIN_TABLE && from.length > 0)
    problems.push(`unexpected rule from ${e.address} at ${FROM_POD_PRIORITY}`);
  if (effectiveRpFilter(e.hostVeth) !== 1)
    problems.push(
      `rp_filter on ${e.hostVeth} is not strict (net.ipv4.conf.all.rp_filter or the veth's is not 1)`,
    );
  return { problems, mac: veth.address, mtu: veth.mtu };
}

/** Whether `ifname` in the pod namespace carries one of `addresses` as a /32: proof that ADD made it. */
export async function podInterfaceCarries(
  netns: string,
  ifname: string,
  addresses: string[],
): Promise<boolean> {
  if (addresses.length === 0) return false;
  const [links = []] = parseLines(
    await ipBatch([{ cmd: `addr show dev ${ifname}`, tolerate: GONE }], { netns, json: true, force: true }),
  );
  const link = links.find((l) => l.ifname === ifname);
  return !!link?.addr_info?.some(
    (a: Json) => a.family === 'inet' && a.prefixlen === 32 && addresses.includes(a.local),
  );
}
