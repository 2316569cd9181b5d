// DEL (SPEC "DEL"): idempotent, and never blocks a pod's deletion on the daemon. The daemon's Release says
// which address the attachment held; prevResult says it too (and names the host veth). With the daemon
// down, the datapath is torn down from prevResult alone and the daemon prunes the allocation when it sees
// the host veth gone. With neither (containerd's second DEL: no netns, no prevResult, already released),
// there is nothing left to do.
import type { Context } from '../context.js';
import { isUnreachable, release } from '../daemon.js';
import { hostVethName } from '../../proto/veth-name.js';
import { netnsExists } from '../datapath/netns.js';
import { deletePodInterface, tearDownHost } from '../datapath/pod.js';
import type { Result } from '../result.js';

export async function cmdDel(ctx: Context): Promise<void> {
  const { conf, env, log } = ctx;
  const addresses: string[] = [];
  try {
    const r = await release(ctx, 'pod-deleted');
    if (r.released) addresses.push(r.address);
    log.info('release', { released: r.released, address: r.address });
  } catch (err) {
    if (!isUnreachable(err)) throw err;
    log.warn('daemon unreachable; tearing down from prevResult, the daemon reconciles the release', {
      error: (err as Error).message,
    });
  }
  const ours = fromPrevResult(conf.prevResult, env.ifname, env.netns);
  addresses.push(...ours.addresses);
  const computed = hostVethName(
    conf.vethPrefix,
    env.args.namespace,
    env.args.name,
    env.containerId,
    env.ifname,
  );
  const candidates = [...ours.hostVeths.filter((v) => v.startsWith(conf.vethPrefix)), computed];
  const removed = await tearDownHost(addresses, candidates);
  log.info('datapath torn down', { addresses, removed });
  // No host end carried our address (already gone, or never routed): make sure the pod end is gone too.
  if (removed.length === 0 && env.netns !== '' && netnsExists(env.netns))
    await deletePodInterface(env.netns, env.ifname);
}

/** The pod's IPv4 addresses and host veth names this plugin listed in prevResult. */
export function fromPrevResult(
  prev: Result | null,
  ifname: string,
  netns: string,
): { addresses: string[]; hostVeths: string[] } {
  if (!prev) return { addresses: [], hostVeths: [] };
  const podIndex = prev.interfaces.findIndex(
    (i) => i.name === ifname && (!netns || !i.sandbox || i.sandbox === netns),
  );
  const addresses = prev.ips
    .filter((ip) => ip.interface === undefined || ip.interface === podIndex)
    .map((ip) => ip.address.split('/')[0])
    .filter((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a));
  // Our result lists the host end right before the pod end, with no sandbox.
  const host = podIndex > 0 ? prev.interfaces[podIndex - 1] : undefined;
  return { addresses, hostVeths: host && !host.sandbox ? [host.name] : [] };
}
