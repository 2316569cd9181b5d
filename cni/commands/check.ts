// CHECK (SPEC "CHECK"): the daemon still holds the attachment's address, and the datapath in prevResult is
// in place in the pod and in the host. Any difference is an error listing all of them. The dispatcher has
// checked CNI_NETNS (a pod's namespace, not the node's) and refused an unusable prevResult (code 6).
import type { Context } from '../context.js';
import { check } from '../daemon.js';
import { DatapathError } from '../datapath/batch.js';
import { inspectHost, inspectPod } from '../datapath/inspect.js';
import { CniError, ErrorCode } from '../errors.js';
import { fromPrevResult } from './del.js';

export async function cmdCheck(ctx: Context): Promise<void> {
  const { conf, env } = ctx;
  if (!conf.prevResult)
    throw new CniError(ErrorCode.InvalidNetworkConfig, 'CHECK needs prevResult (the result of ADD)');
  const ours = fromPrevResult(conf.prevResult, env.ifname, env.netns);
  if (ours.addresses.length === 0 || ours.hostVeths.length === 0)
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `prevResult lists no ${env.ifname} address or host veth of this plugin`,
    );
  const address = ours.addresses[0];
  const hostVeth = ours.hostVeths[0];
  const hostMac = conf.prevResult.interfaces.find((i) => i.name === hostVeth)?.mac;

  const held = await check(ctx);
  if (!held.found)
    throw new DatapathError(`the daemon holds no address for ${env.containerId}/${env.ifname}`);
  if (held.address !== address)
    throw new DatapathError(
      `the daemon holds ${held.address} for this attachment, prevResult says ${address}`,
    );

  const expected = {
    netns: env.netns,
    podIfname: env.ifname,
    hostVeth,
    hostMac,
    address,
    routeTable: held.routeTable,
  };
  const [pod, host] = await Promise.all([inspectPod(expected), inspectHost(expected)]);
  const problems = [...pod.problems, ...host.problems];
  if (problems.length > 0)
    throw new DatapathError(`datapath of ${address} is broken: ${problems.join('; ')}`);
}
