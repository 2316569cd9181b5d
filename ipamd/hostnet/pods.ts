// What the node's own namespace proves about the pods the plugin wired (ARCHITECTURE section 3): for each
// host veth with Tidepool's name (<prefix><11 hex>, cni/datapath/names.ts), the /32 routes in main that
// point at it, and the per-address rules (`to podIP lookup main` at 512; `from podIP lookup <table>` at
// 1536, cni/datapath/rule.ts). Read-only: three `ip -json` listings of the daemon's namespace, nothing changed.
import type { HostExec } from './exec.js';

export const TO_POD_PRIORITY = 512;
export const FROM_POD_PRIORITY = 1536;
export const MAIN_TABLE = 254;

/** An address the node routes to a Tidepool host veth, with the rules the plugin adds for it. */
export interface PodDatapath {
  address: string;
  veth: string;
  /** `to address lookup main` at priority 512 is present. */
  toRule: boolean;
  /** The table of `from address` at priority 1536, or undefined when there is none. */
  fromTable?: number;
}

export interface NodePods {
  /** Every link named like a Tidepool host veth, routed or not. */
  veths: string[];
  /** Addresses routed (/32, main) to one of those veths. */
  datapaths: PodDatapath[];
}

interface KernelLink {
  ifname: string;
}
interface KernelRoute {
  dst: string;
  dev?: string;
}
interface KernelRule {
  priority?: number;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  table?: string;
}

export const vethPattern = (prefix: string) => new RegExp(`^${prefix}[0-9a-f]{11}$`);

const tableNumber = (t: string | undefined) => (t === 'main' ? MAIN_TABLE : t ? Number(t) : NaN);
// A /32 rule selector: `ip -json` omits the length of a host address or gives it as 32.
const host = (addr: string | undefined, len: number | undefined) =>
  addr && addr !== 'all' && (len === undefined || len === 32) ? addr.replace(/\/32$/, '') : undefined;

/** Reads the pod datapaths of the namespace `exec` runs in. */
export async function readNodePods(exec: HostExec, vethPrefix: string): Promise<NodePods> {
  const [links, routes, rules] = await Promise.all([
    exec.ipJson<KernelLink>(['link', 'show']),
    exec.ipJson<KernelRoute>(['route', 'show', 'table', 'main']),
    exec.ipJson<KernelRule>(['rule', 'show']),
  ]);
  return podDatapaths(links, routes, rules, vethPrefix);
}

/** The pure part of readNodePods (unit-tested on captured listings). */
export function podDatapaths(
  links: KernelLink[],
  routes: KernelRoute[],
  rules: KernelRule[],
  vethPrefix: string,
): NodePods {
  const named = vethPattern(vethPrefix);
  const veths = links.map((l) => l.ifname).filter((n) => named.test(n));
  const ours = new Set(veths);
  const toRules = new Set<string>();
  const fromTables = new Map<string, number>();
  for (const r of rules) {
    if (r.priority === TO_POD_PRIORITY && tableNumber(r.table) === MAIN_TABLE && !host(r.src, r.srclen)) {
      const dst = host(r.dst, r.dstlen);
      if (dst) toRules.add(dst);
    }
    if (r.priority === FROM_POD_PRIORITY && !r.dst) {
      const src = host(r.src, r.srclen);
      if (src) fromTables.set(src, tableNumber(r.table));
    }
  }
  const datapaths: PodDatapath[] = [];
  for (const r of routes) {
    if (!r.dev || !ours.has(r.dev) || !/^\d+\.\d+\.\d+\.\d+(\/32)?$/.test(r.dst)) continue;
    const address = r.dst.replace(/\/32$/, '');
    datapaths.push({
      address,
      veth: r.dev,
      toRule: toRules.has(address),
      fromTable: fromTables.get(address),
    });
  }
  return { veths, datapaths };
}
