// Anti-spoofing: strict reverse-path filtering (rp_filter=1) on the host end of the pod's veth. A packet
// arriving from the pod is accepted only if the route back to its source leaves through that same veth,
// which holds for the pod's own /32 (route `podIP/32 dev <veth>`, reached first through the 512 rule) and
// for nothing else, so a pod can send only from its own address. No extra process per ADD: the plugin runs
// in the host namespace and writes the sysctl directly.
// The kernel applies max(conf.all.rp_filter, conf.<dev>.rp_filter); all=2 (loose) would weaken it, so the
// daemon sets loose mode on the primary interface only and CHECK reports a host where all=2.
import { readFileSync, writeFileSync } from 'node:fs';
import { DatapathError } from './batch.js';

const path = (dev: string) => `/proc/sys/net/ipv4/conf/${dev}/rp_filter`;

export function setStrictRpFilter(dev: string): void {
  try {
    writeFileSync(path(dev), '1');
  } catch (err) {
    throw new DatapathError(`cannot set rp_filter=1 on ${dev}: ${(err as Error).message}`);
  }
}

/** The mode the kernel applies to packets arriving on `dev`. */
export function effectiveRpFilter(dev: string): number {
  const read = (d: string) => Number(readFileSync(path(d), 'utf8').trim());
  return Math.max(read('all'), read(dev));
}
