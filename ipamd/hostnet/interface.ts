// Setup of a secondary interface (ENI) on the host, as the AWS VPC CNI's setupENINetwork does
// (reference aws-vpc-cni.md 5.3–5.4): find the link by MAC, set MTU, bring it up, give it its primary
// address with the subnet's mask, fill its own route table (device number + 1) with the gateway link
// route and a default route, add `from <primary> lookup <table>` at 32765, and delete the kernel's
// connected subnet route from main so VPC traffic of pods on this interface follows their own table.
// Every step compares with the kernel's state first, so re-running converges without errors.
import { parseCidr, subnetGateway } from '../../config/net.js';
import { HostNetError, type HostExec } from './exec.js';
import { ensureRuleLines, listRules, removeRuleLines } from './rules.js';

/** What host setup needs to know of an interface (a CloudInterface has all of it). */
export interface HostInterface {
  mac: string;
  deviceNumber: number;
  subnetCidr: string;
  primaryAddress: string;
}

export const ENI_RULE_PRIORITY = 32765;

/** Route table of an interface: main for device 0, device number + 1 otherwise (aws-vpc-cni.md 5.4). */
export function routeTableFor(deviceNumber: number): number {
  return deviceNumber === 0 ? 254 : deviceNumber + 1;
}

export interface FindLinkOptions {
  /** Attempts before giving up (the link may appear a moment after the cloud reports the attachment). */
  attempts?: number;
  intervalMs?: number;
}

interface KernelLink {
  ifname: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

/** Deletion lines for every 32765 rule into `table` from an address other than `except`. */
function tableRuleLines(
  rules: Awaited<ReturnType<typeof listRules>>,
  table: number,
  except: string,
): string[] {
  return rules
    .filter((r) => r.priority === ENI_RULE_PRIORITY && r.table === String(table) && r.src && r.src !== 'all')
    .filter((r) => r.src !== except)
    .map((r) => `rule del priority ${ENI_RULE_PRIORITY} from ${r.src} table ${table}`);
}

export class LinkNotFoundError extends HostNetError {
  constructor(mac: string, waitedMs: number) {
    super(`no link with MAC ${mac} appeared within ${waitedMs} ms`, 'ip -json link show', '');
    this.name = 'LinkNotFoundError';
  }
}

/** Finds the host link carrying `mac`, retrying while the interface is still being attached. */
export async function findLinkByMac(
  exec: HostExec,
  mac: string,
  opts: FindLinkOptions = {},
): Promise<string> {
  const attempts = opts.attempts ?? 30;
  const interval = opts.intervalMs ?? 500;
  const want = mac.toLowerCase();
  for (let i = 0; ; i++) {
    const links = await exec.ipJson<KernelLink>(['link', 'show']);
    const hit = links.find((l) => l.address?.toLowerCase() === want);
    if (hit) return hit.ifname;
    if (i + 1 >= attempts) throw new LinkNotFoundError(mac, attempts * interval);
    await new Promise((r) => setTimeout(r, interval));
  }
}

export interface InterfaceSetupOptions extends FindLinkOptions {
  mtu: number;
}

/** Configures a secondary interface; returns the link's name. Idempotent. */
export async function setupInterface(
  exec: HostExec,
  iface: HostInterface,
  opts: InterfaceSetupOptions,
): Promise<string> {
  if (iface.deviceNumber === 0)
    throw new HostNetError('the primary interface is set up by setupNode', 'setupInterface', '');
  const link = await findLinkByMac(exec, iface.mac, opts);
  const table = routeTableFor(iface.deviceNumber);
  const subnet = parseCidr(iface.subnetCidr);
  const gw = subnetGateway(iface.subnetCidr);
  const want = `${iface.primaryAddress}/${subnet.bits}`;

  const [info] = await exec.ipJson<KernelLink>(['addr', 'show', 'dev', link]);
  const global = (info?.addr_info ?? []).filter((a) => a.family === 'inet' && a.scope === 'global');
  const lines = [`link set dev ${link} mtu ${opts.mtu} up`];
  if (!(global.length === 1 && `${global[0].local}/${global[0].prefixlen}` === want)) {
    lines.push(`addr flush dev ${link} scope global`, `addr add ${want} dev ${link}`);
  }
  lines.push(
    `route replace ${gw}/32 dev ${link} scope link table ${table}`,
    `route replace default via ${gw} dev ${link} table ${table}`,
  );
  const rules = await listRules(exec);
  lines.push(...ensureRuleLines(rules, { priority: ENI_RULE_PRIORITY, from: iface.primaryAddress, table }));
  // A rule into this table from another address is stale: the device number now holds another interface.
  lines.push(...tableRuleLines(rules, table, iface.primaryAddress));
  await exec.ipBatch(lines);

  // The kernel adds the connected subnet route when the address is added; it must not stay in main.
  const connected = await exec.ipJson<{ dst: string }>([
    'route',
    'show',
    'table',
    'main',
    'dev',
    link,
    'proto',
    'kernel',
  ]);
  const del = connected.map((r) => `route del ${r.dst} dev ${link} proto kernel table main`);
  await exec.ipBatch(del);
  return link;
}

/**
 * Undoes setupInterface: the 32765 rule, the interface's table, and (if the link is still there) its
 * address. Safe to call when some or all of it is already gone.
 */
export async function teardownInterface(exec: HostExec, iface: HostInterface): Promise<void> {
  if (iface.deviceNumber === 0) return;
  const table = routeTableFor(iface.deviceNumber);
  const rules = await listRules(exec);
  const lines = [
    ...removeRuleLines(rules, { priority: ENI_RULE_PRIORITY, from: iface.primaryAddress }),
    ...tableRuleLines(rules, table, iface.primaryAddress),
  ];
  const routes = await exec.ipJson<{ dst: string }>(['route', 'show', 'table', String(table)]);
  if (routes.length) lines.push(`route flush table ${table}`);
  const links = await exec.ipJson<KernelLink>(['link', 'show']);
  const link = links.find((l) => l.address?.toLowerCase() === iface.mac.toLowerCase());
  if (link) lines.push(`addr flush dev ${link.ifname} scope global`);
  await exec.ipBatch(lines);
}
