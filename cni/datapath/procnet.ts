// The host namespace's links and main-table IPv4 routes as /proc/self/net shows them to the plugin (it runs
// in the host namespace): a read, no process. Used to guard teardown — an address's rules are removed only
// when its /32 route is gone or still points at the pod's own veth, never when it now serves another pod.
import { readFileSync } from 'node:fs';

export function hostLinks(): Set<string> {
  const names = new Set<string>();
  for (const line of readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i > 0) names.add(line.slice(0, i).trim());
  }
  return names;
}

/** /proc/net/route holds addresses as little-endian hex. */
function hexToIp(hex: string): string {
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

/** address → device of every /32 route of the main table. */
export function hostRoutes32(): Map<string, string> {
  const routes = new Map<string, string>();
  for (const line of readFileSync('/proc/self/net/route', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[7] !== 'FFFFFFFF') continue;
    routes.set(hexToIp(f[1]), f[0]);
  }
  return routes;
}
