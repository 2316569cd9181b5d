// DEL (SPEC "DEL"): idempotent, and never blocks a pod's deletion on the daemon or on our own parse error.
// The daemon's Release says which address the attachment held; prevResult says it too (and names the host
// veth). With the daemon down, the datapath is torn down from prevResult alone and the daemon prunes the
// allocation when it sees the host veth gone. With neither (containerd's second DEL: no netns, no
// prevResult, already released; or a container the daemon never knew), nothing is removed: every link DEL
// removes is proven ours — a host veth with Tidepool's name that an address of this attachment routes to,
// or the pod interface when it carries such an address — never a link because CNI_IFNAME names it.
// The dispatcher has refused a CNI_NETNS that is the node's own namespace (datapath/netns.ts).
import type { Context } from '../context.js';
import { isUnreachable, release } from '../daemon.js';
import { podInterfaceCarries } from '../datapath/inspect.js';
import { hostVethName, isTidepoolVeth } from '../../proto/veth-name.js';
import { deletePodInterface, tearDownHost } from '../datapath/pod.js';
import { CniError, ErrorCode } from '../errors.js';
import { isIPv4 } from '../ipaddr.js';
import type { Result } from '../result.js';

export async function cmdDel(ctx: Context): Promise<void> {
  const { conf, env, log } = ctx;
  if (conf.prevResultError)
    log.warn('prevResult is unusable; cleaning up what the daemon names', {
      error: conf.prevResultError.message,
    });
  const addresses: string[] = [];
  try {
    const r = await release(ctx, 'pod-deleted');
    if (r.released && isIPv4(r.address)) addresses.push(r.address);
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
  const candidates = [...ours.hostVeths.filter((v) => isTidepoolVeth(conf.vethPrefix, v)), computed];
  const removed = await tearDownHost(addresses, candidates);
  log.info('datapath torn down', { addresses, removed });
  // No host end carried our address (already gone, or never routed: an ADD that died after the pod side):
  // the pod end goes too, if it is ours.
  if (removed.length === 0 && ctx.netns === 'pod') await deletePodEnd(ctx, addresses);
}

async function deletePodEnd(ctx: Context, addresses: string[]): Promise<void> {
  const { env, log } = ctx;
  try {
    if (await podInterfaceCarries(env.netns, env.ifname, addresses)) {
      await deletePodInterface(env.netns, env.ifname);
      log.info('pod interface removed', { ifname: env.ifname });
    } else if (addresses.length === 0) {
      log.info('no address known for this attachment: the pod namespace is left as it is');
    }
  } catch (err) {
    // A path on nsfs that is no network namespace (nsenter cannot enter it): there is no pod side to remove.
    if (!(err instanceof CniError) || err.code !== ErrorCode.InvalidEnvironment) throw err;
    log.warn('cannot enter CNI_NETNS; no pod side removed', { error: err.message });
  }
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
    .filter(isIPv4);
  // Our result lists the host end right before the pod end, with no sandbox.
  const host = podIndex > 0 ? prev.interfaces[podIndex - 1] : undefined;
  return { addresses, hostVeths: host && !host.sandbox ? [host.name] : [] };
}
