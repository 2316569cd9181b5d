// ADD (SPEC "ADD"; ARCHITECTURE section 2): allocate an address (released again if anything later fails)
// → pod side → host side → the result. Each undo is declared before the step it undoes runs, since an
// `ip -batch` that fails half-way has already created part of what it undoes. The dispatcher has checked
// the namespace and holds the attachment's lock, so a repeated ADD of this attachment runs after the first
// one ended: when the daemon hands back the same address and the datapath is complete, it answers with the
// same result; a datapath an earlier ADD left half-built (it died) is removed and built again.
import { DEADLINE, type Context } from '../context.js';
import { allocate } from '../daemon.js';
import { hostVethName } from '../../proto/veth-name.js';
import { POD_GATEWAY } from '../datapath/neigh.js';
import { inspectHost, inspectPod, podInterfaceCarries } from '../datapath/inspect.js';
import {
  deletePodInterface,
  planPod,
  setUpHostSide,
  setUpPodSide,
  tearDownHost,
  type PodPlan,
} from '../datapath/pod.js';
import { deleteLink } from '../datapath/veth.js';
import { ipBatch } from '../datapath/batch.js';
import type { Result } from '../result.js';
import { Rollback } from '../rollback.js';
import { netlink } from '../sys/netlink.js';

export const DEFAULT_MTU = 9001;

export async function cmdAdd(ctx: Context): Promise<Result> {
  const { conf, env, log } = ctx;

  // Where an ADD spends its time, in the log: start-up (process start to here), daemon, pod side, host side.
  const ms: Record<string, number> = { startup: Math.round(process.uptime() * 1000) };
  // process.hrtime, not performance.now(): the `performance` global loads perf_hooks, 2 ms of every ADD.
  const now = () => {
    const [s, ns] = process.hrtime();
    return s * 1e3 + ns / 1e6;
  };
  let t = now();
  const lap = (what: string) => {
    ms[what] = Math.round((now() - t) * 10) / 10;
    t = now();
  };
  const alloc = await allocate(ctx);
  lap('allocate');
  log.info('address allocated', {
    address: alloc.address,
    table: alloc.routeTable,
    reused: alloc.reused,
    waitedMs: alloc.waitedMs,
  });
  const hostVeth = hostVethName(
    conf.vethPrefix,
    env.args.namespace,
    env.args.name,
    env.containerId,
    env.ifname,
  );
  if (alloc.reused) {
    const done = await existingDatapath(ctx, hostVeth, alloc.address, alloc.routeTable);
    if (done) {
      log.info('attachment already set up: the same result again', { address: alloc.address, hostVeth });
      return addResult(done, conf.prevResult, conf.dns);
    }
  }
  const rollback = new Rollback(log);
  // A reused allocation belongs to an earlier ADD of this attachment; the runtime's DEL releases it.
  if (!alloc.reused)
    rollback.push('release address', () =>
      ctx.client.call(
        'Release',
        { network: conf.name, containerId: env.containerId, ifname: env.ifname, reason: 'add-failed' },
        DEADLINE.release,
      ),
    );
  try {
    const plan = planPod({
      netns: env.netns,
      podIfname: env.ifname,
      hostVeth,
      address: alloc.address,
      routeTable: alloc.routeTable,
      mtu: alloc.mtu || conf.mtu || DEFAULT_MTU,
    });
    rollback.push('delete veth', () => ipBatch(deleteLink(plan.createdAs), { force: true }));
    await setUpPodSide(plan);
    lap('podSide');
    rollback.push('delete host veth, route and rules', () =>
      tearDownHost([plan.address], [], [plan.hostVeth, plan.createdAs]),
    );
    await setUpHostSide(plan);
    lap('hostSide');
    log.info('pod network set up', {
      hostVeth: plan.hostVeth,
      address: plan.address,
      mtu: plan.mtu,
      datapath: netlink() ? 'netlink' : 'iproute2',
      ms,
    });
    return addResult(plan, conf.prevResult, conf.dns);
  } catch (err) {
    await rollback.run();
    throw err;
  }
}

/**
 * The datapath of this attachment as an earlier ADD built it, when it is complete (what CHECK verifies), with
 * the MACs and MTU the kernel has; null otherwise, after removing what that ADD left half-built (the pod end
 * only when it carries the address, as DEL does).
 */
async function existingDatapath(
  ctx: Context,
  hostVeth: string,
  address: string,
  routeTable: number,
): Promise<PodPlan | null> {
  const { netns, ifname } = ctx.env;
  const expected = { netns, podIfname: ifname, hostVeth, address, routeTable };
  const host = await inspectHost(expected);
  const pod = host.problems.length === 0 ? await inspectPod({ ...expected, hostMac: host.mac }) : null;
  if (pod && pod.problems.length === 0 && host.mac && pod.mac && pod.mtu)
    return { ...expected, podMac: pod.mac, hostMac: host.mac, createdAs: hostVeth, mtu: pod.mtu };
  ctx.log.warn('repeated ADD found the datapath incomplete; building it again', {
    problems: [...host.problems, ...(pod?.problems ?? [])],
  });
  const removed = await tearDownHost([address], [hostVeth]);
  if (removed.length === 0 && (await podInterfaceCarries(netns, ifname, [address])))
    await deletePodInterface(netns, ifname);
  return null;
}

/** Our interfaces and address appended to a chained prevResult (SPEC: pass it through, with our changes). */
function addResult(p: PodPlan, prev: Result | null, dns: Result['dns']): Result {
  const base: Result = prev ?? { interfaces: [], ips: [], routes: [] };
  const first = base.interfaces.length;
  return {
    // The host end is listed with no sandbox: the bandwidth plugin finds it that way.
    interfaces: [
      ...base.interfaces,
      { name: p.hostVeth, mac: p.hostMac },
      { name: p.podIfname, mac: p.podMac, mtu: p.mtu, sandbox: p.netns },
    ],
    ips: [...base.ips, { address: `${p.address}/32`, gateway: POD_GATEWAY, interface: first + 1 }],
    routes: [...base.routes, { dst: '0.0.0.0/0', gw: POD_GATEWAY }],
    dns: base.dns ?? dns,
  };
}
