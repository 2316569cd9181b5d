// Introspection HTTP on localhost (default 127.0.0.1:61679, as the incumbent's): what the daemon holds, as
// JSON, for operators and tidepoolctl. Read-only; the data comes from Ipam.status() and Ipam.snapshot().
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Ipam } from '../core/types.js';

export const INTROSPECTION_PATHS = {
  '/v1/pool': 'pool status: free, assigned, cooling, total, capacity, interfaces, parked requests',
  '/v1/interfaces': 'network interfaces with their addresses (or prefixes) and the state of each address',
  '/v1/allocations': 'allocations: network, container id, ifname, pod, address, interface',
  '/v1/settings': 'the settings the daemon runs with',
  '/v1/cloud-calls':
    'recent cloud API calls with their latency and outcome, totals, what the pool waits on, the pacing of ' +
    'each API class, and each subnet as the cloud last showed it (free addresses, drain, scarcity mode)',
  '/v1/recovery':
    'lost-state recovery: how this start was judged, allocations rebuilt from the node, addresses in quarantine',
} as const;

export interface IntrospectionOptions {
  ipam: Ipam;
  settings: unknown;
  /** The lost-state recovery's report (ipamd/recovery.ts). */
  recovery?: () => unknown;
}

/** A field of the core's snapshot; the whole snapshot when the core names it differently. */
function part(snapshot: unknown, ...names: string[]): unknown {
  if (snapshot && typeof snapshot === 'object') {
    for (const n of names) if (n in snapshot) return (snapshot as Record<string, unknown>)[n];
  }
  return snapshot;
}

export function introspectionHandler(opts: IntrospectionOptions) {
  const routes: Record<string, () => unknown> = {
    '/': () => ({ endpoints: INTROSPECTION_PATHS }),
    '/v1/pool': () => ({ ...(poolExtras(opts.ipam.snapshot()) ?? {}), ...opts.ipam.status() }),
    '/v1/interfaces': () => part(opts.ipam.snapshot(), 'interfaces'),
    '/v1/allocations': () => part(opts.ipam.snapshot(), 'allocations'),
    '/v1/settings': () => opts.settings,
    '/v1/cloud-calls': () => part(opts.ipam.snapshot(), 'cloud'),
    '/v1/recovery': () => opts.recovery?.() ?? { mode: 'unknown' },
  };
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '') || '/';
    const route = routes[path];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: `${req.method} not allowed: introspection is read-only` });
    } else if (!route) {
      send(res, 404, { error: `no such endpoint ${path}`, endpoints: INTROSPECTION_PATHS });
    } else {
      try {
        send(res, 200, route());
      } catch (err) {
        send(res, 500, { error: (err as Error).message });
      }
    }
  };
}

/**
 * Pool-level facts of the snapshot that status() does not carry, under names that never shadow a status
 * field (the snapshot's `capacity` is the instance's limits; status's `capacity` is a number).
 */
function poolExtras(snapshot: unknown): Record<string, unknown> | null {
  if (!snapshot || typeof snapshot !== 'object') return null;
  const s = snapshot as Record<string, unknown>;
  const names: Record<string, string> = {
    node: 'node',
    policy: 'policy',
    capacity: 'limits',
    demand: 'demand',
    settings: 'poolSettings',
  };
  const out: Record<string, unknown> = {};
  for (const [from, to] of Object.entries(names)) if (from in s) out[to] = s[from];
  return out;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
}
