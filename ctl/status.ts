// `tidepoolctl status`: the daemon's pool and allocations, read from introspection, for a person: the
// totals, then one table per interface listing each address, its state and the pod that holds it.
import { table } from './table.js';
import type { Io } from './io.js';

interface PoolView {
  ready: boolean;
  message: string;
  free: number;
  assigned: number;
  cooling: number;
  total: number;
  capacity: number;
  interfaces: number;
  parked: number;
  node?: { instanceId: string; instanceType: string; zone: string } | null;
  policy?: string;
}
interface AddressView {
  ip?: string;
  address?: string;
  state: string;
  /** Epoch ms or an ISO time (the daemon's snapshot gives ISO). */
  coolingUntil?: number | string;
  prefix?: string;
}
interface InterfaceView {
  id: string;
  deviceNumber: number;
  subnetId?: string;
  subnetCidr?: string;
  primary?: boolean;
  addresses: AddressView[];
  prefixes?: string[];
}
interface AllocationView {
  key: { network: string; containerId: string; ifname: string };
  pod: { namespace: string; name: string };
  address: string;
  interfaceId: string;
  allocatedAt?: number;
}

/** The pacing and subnets part of /v1/cloud-calls (absent from a daemon that predates them). */
export interface CloudView {
  pacing?: { apiClass: string; paced: boolean; ratePerSec: number | null; decreases: number }[];
  subnets?: {
    id: string;
    free: number;
    usable: number;
    scarce: boolean;
    drainPerMin: number;
    seenAt: string;
  }[];
}

export class IntrospectionUnreachableError extends Error {}

async function get<T>(base: string, path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new IntrospectionUnreachableError(
      `cannot reach the daemon's introspection at ${base} (${cause}): is tidepool-ipamd running, and is ` +
        `TIDEPOOL_INTROSPECTION_ADDR (or --addr) the address it listens on?`,
    );
  }
  if (!res.ok) throw new Error(`${base}${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

function podName(a: AllocationView | undefined): string {
  if (!a) return '';
  const pod = a.pod?.name ? `${a.pod.namespace || 'default'}/${a.pod.name}` : a.key.containerId.slice(0, 12);
  return `${pod} (${a.key.ifname})`;
}

export function renderStatus(
  pool: PoolView,
  interfaces: InterfaceView[],
  allocations: AllocationView[],
  now: number,
  cloud?: CloudView,
): string[] {
  const out: string[] = [];
  if (pool.node)
    out.push(
      `node: ${pool.node.instanceId} (${pool.node.instanceType}, ${pool.node.zone})` +
        (pool.policy ? `, policy ${pool.policy}` : ''),
    );
  out.push(`pool: ${pool.ready ? 'ready' : 'NOT READY'}${pool.message ? ` (${pool.message})` : ''}`);
  out.push(
    `  ${pool.assigned} assigned, ${pool.free} free, ${pool.cooling} cooling (not available), ${pool.total} total ` +
      `of ${pool.capacity} the node can hold; ${pool.interfaces} interface(s); ${pool.parked} request(s) parked`,
  );
  if (cloud) out.push(...renderCloud(cloud, now));
  const byAddress = new Map(allocations.map((a) => [a.address, a]));
  for (const itf of [...interfaces].sort((a, b) => a.deviceNumber - b.deviceNumber)) {
    const counts = { free: 0, assigned: 0, cooling: 0 } as Record<string, number>;
    for (const a of itf.addresses) counts[a.state] = (counts[a.state] ?? 0) + 1;
    out.push('');
    out.push(
      `${itf.id}  device ${itf.deviceNumber}${itf.primary ? ' (primary)' : ''}` +
        `${itf.subnetCidr ? `  subnet ${itf.subnetCidr}` : itf.subnetId ? `  subnet ${itf.subnetId}` : ''}` +
        `${itf.prefixes?.length ? `  prefixes ${itf.prefixes.join(', ')}` : ''}` +
        `  — ${counts.assigned} assigned, ${counts.free} free, ${counts.cooling} cooling`,
    );
    if (itf.addresses.length === 0) {
      out.push('  (no secondary addresses)');
      continue;
    }
    const rows = itf.addresses.map((a) => {
      const ip = a.ip ?? a.address ?? '?';
      const note =
        a.state === 'cooling' && a.coolingUntil !== undefined
          ? `reusable in ${Math.max(0, Math.ceil((new Date(a.coolingUntil).getTime() - now) / 1000))} s`
          : '';
      return [ip, a.state, a.state === 'assigned' ? podName(byAddress.get(ip)) : note];
    });
    out.push(
      table(['ADDRESS', 'STATE', 'POD / NOTE'], rows)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  return out;
}

/** Pacing per API class, then one line per subnet: what the account and the subnets do to this node. */
export function renderCloud(cloud: CloudView, now: number): string[] {
  const out: string[] = [];
  if (cloud.pacing) {
    const paced = cloud.pacing.filter((p) => p.paced);
    const decreases = (n: number) => `${n} decrease${n === 1 ? '' : 's'}`;
    if (cloud.pacing.length === 0) out.push('cloud: pacing off');
    else if (paced.length === 0)
      out.push('cloud: no API class paced (the cloud has not throttled this node lately)');
    else
      out.push(
        `cloud: paced after throttling: ${paced
          .map(
            (p) => `${p.apiClass} at ${(p.ratePerSec ?? 0).toFixed(2)} calls/s (${decreases(p.decreases)})`,
          )
          .join(', ')}`,
      );
  }
  for (const s of cloud.subnets ?? []) {
    const ago = Math.max(0, Math.round((now - new Date(s.seenAt).getTime()) / 1000));
    out.push(
      `  subnet ${s.id}: ${s.free}${s.usable ? ` of ${s.usable}` : ''} free` +
        (s.drainPerMin > 0 ? `, falling ${Math.round(s.drainPerMin)}/min` : '') +
        `, as the cloud said ${ago} s ago` +
        (s.scarce ? ' — SCARCE: no buffer beyond own demand, idle addresses released first' : ''),
    );
  }
  return out;
}

export async function runStatus(argv: string[], io: Io): Promise<number> {
  let addr = io.env.TIDEPOOL_INTROSPECTION_ADDR || '127.0.0.1:61679';
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--addr') addr = argv[++i] ?? '';
    else if (argv[i].startsWith('--addr=')) addr = argv[i].slice(7);
    else if (argv[i] === '--json') json = true;
    else {
      io.err(`status: unknown argument ${argv[i]} (try tidepoolctl --help)`);
      return 2;
    }
  }
  const base = addr.startsWith('http') ? addr : `http://${addr}`;
  try {
    const [pool, interfaces, allocations, calls] = await Promise.all([
      get<PoolView>(base, '/v1/pool'),
      get<InterfaceView[]>(base, '/v1/interfaces'),
      get<AllocationView[]>(base, '/v1/allocations'),
      get<CloudView>(base, '/v1/cloud-calls'),
    ]);
    const cloud = Array.isArray(calls?.pacing)
      ? { pacing: calls.pacing, subnets: Array.isArray(calls.subnets) ? calls.subnets : [] }
      : undefined;
    if (json) io.out(JSON.stringify({ pool, interfaces, allocations, ...(cloud ? { cloud } : {}) }, null, 2));
    else for (const line of renderStatus(pool, interfaces, allocations, Date.now(), cloud)) io.out(line);
    return 0;
  } catch (err) {
    io.err((err as Error).message);
    return 1;
  }
}
