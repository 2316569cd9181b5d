// ADD (SPEC "ADD"; ARCHITECTURE section 2): check the namespace → allocate an address (released again if
// anything later fails) → pod side → host side → the result. Each undo is declared before the step it
// undoes runs, since an `ip -batch` that fails half-way has already created part of what it undoes.
import { DEADLINE, type Context } from '../context.js';
import { allocate } from '../daemon.js';
import { hostVethName } from '../../proto/veth-name.js';
import { POD_GATEWAY } from '../datapath/neigh.js';
import { requirePodNetns } from '../datapath/netns.js';
import { planPod, setUpHostSide, setUpPodSide, tearDownHost, type PodPlan } from '../datapath/pod.js';
import { deleteLink } from '../datapath/veth.js';
import { ipBatch } from '../datapath/batch.js';
import type { Result } from '../result.js';
import { Rollback } from '../rollback.js';
import { netlink } from '../sys/netlink.js';

export const DEFAULT_MTU = 9001;

export async function cmdAdd(ctx: Context): Promise<Result> {
  const { conf, env, log } = ctx;
  requirePodNetns(env.netns);

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
      hostVeth: hostVethName(conf.vethPrefix, env.args.namespace, env.args.name, env.containerId, env.ifname),
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
