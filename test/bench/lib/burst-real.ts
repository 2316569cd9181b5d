// `npm run bench -- burst --incumbent real`: the burst benchmark with the REAL AWS VPC CNI v1.23.2 beside
// Tidepool and Tidepool's imitation of it (TIDEPOOL_COMPARISON_MODE=incumbent), in one run, on the same
// lab recipe: one m5.4xlarge node on LocalStack (the lab's seed, octet 42), EC2 reached only through the
// EC2 fidelity layer (localstack/ec2-fidelity.ts: true AssignPrivateIpAddresses answers, unique
// addresses, EC2's latencies and throttling buckets), the same IMDS, the same fabric. For each pod count
// (30 and 60) and each CNI: the lab comes up, the pool settles, every free address is taken over the CNI's
// own gRPC socket (as running pods would hold them), and at once N plugin ADDs start, through the lab's
// CNI caller; a failed ADD is retried as the kubelet retries a failed sandbox (10 s × (1 + 0.5·rand),
// lib/kubelet-retry.ts, the same seeded rand for every CNI). EC2 calls and throttled calls are the fidelity
// layer's counts over the burst (only the node's calls: the lab's own reads bypass it).
//
//   npm run bench -- burst --incumbent real [--pods 30,60] [--cnis tidepool,awsvpccni,imitation]
//   npm run bench -- burst --incumbent real --self-test
import { request } from 'node:http';
import { readdirSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { DaemonClient } from '../../../cni/client.js';
import { Cleanup } from '../../../demo/cleanup.js';
import { bringUpLab, type LabHandle } from '../../../demo/lab-adapter.js';
import { fidelitySocket } from '../../../lab/localstack-cloud.js';
import { runCommand } from '../../../lab/netns.js';
import { runPlugin } from '../../../lab/plugin.js';
import { realClock } from '../../../providers/clock.js';
import { DEFAULT_BUCKETS, REALISTIC_LATENCY } from '../../../providers/sim/actions.js';
import { ensureAwsVpcCni, removeMountPoints, startRealAgent, type RealAgent } from './aws-vpc-cni.js';
import { rng } from './churn-workload.js';
import { KUBELET_BACKOFF_MS, KUBELET_JITTER, startLikeKubelet, type PodStart } from './kubelet-retry.js';
import { addInSandbox, createSandboxes } from './sandbox.js';
import { bench, quantile } from './stats.js';

export type Cni = 'tidepool' | 'awsvpccni' | 'imitation';
export const CNIS: Cni[] = ['tidepool', 'awsvpccni', 'imitation'];
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLUSTER = 'tidepool-lab';

export interface ActionCounts {
  calls: number;
  throttled: number;
}
export type Counts = Record<string, ActionCounts>;

export interface BurstFigures {
  failedAdds: number;
  podsWithFailedAdd: number;
  neverAddressed: number;
  allAddressedMs: number;
  p50Ms: number;
  p99Ms: number;
  ec2Calls: number;
  throttled: number;
  byAction: Record<string, number>;
}

/** The figures of one burst: pod starts timed from t0, and the fidelity layer's counts before and after. */
export function summarise(starts: PodStart[], t0: number, before: Counts, after: Counts): BurstFigures {
  const ready = starts.filter((s) => s.readyAt !== undefined).map((s) => s.readyAt! - t0);
  const never = starts.length - ready.length;
  const byAction: Record<string, number> = {};
  let ec2Calls = 0;
  let throttled = 0;
  for (const [action, c] of Object.entries(after)) {
    const calls = c.calls - (before[action]?.calls ?? 0);
    const thr = c.throttled - (before[action]?.throttled ?? 0);
    if (calls > 0) byAction[action] = calls;
    ec2Calls += calls;
    throttled += thr;
  }
  return {
    failedAdds: starts.reduce((a, s) => a + s.failures, 0),
    podsWithFailedAdd: starts.filter((s) => s.failures > 0).length,
    neverAddressed: never,
    allAddressedMs: never || ready.length === 0 ? NaN : Math.max(...ready),
    p50Ms: quantile(ready, 0.5),
    p99Ms: quantile(ready, 0.99),
    ec2Calls,
    throttled,
    byAction,
  };
}

/** BENCH lines of one burst: burst_real_<figure>_<cni>_<pods>pods. */
export function benchLines(cni: Cni, pods: number, f: BurstFigures): string[] {
  const s = `_${cni}_${pods}pods`;
  const v = (x: number) => (Number.isFinite(x) ? String(Math.round(x)) : String(x));
  return [
    `BENCH burst_real_failed_adds${s} ${f.failedAdds} count`,
    `BENCH burst_real_pods_with_failed_add${s} ${f.podsWithFailedAdd} count`,
    `BENCH burst_real_never_addressed${s} ${f.neverAddressed} count`,
    `BENCH burst_real_all_addressed${s} ${v(f.allAddressedMs)} ms`,
    `BENCH burst_real_addressed_p50${s} ${v(f.p50Ms)} ms`,
    `BENCH burst_real_addressed_p99${s} ${v(f.p99Ms)} ms`,
    `BENCH burst_real_ec2_calls${s} ${f.ec2Calls} count`,
    `BENCH burst_real_ec2_throttled${s} ${f.throttled} count`,
  ];
}

/** The fidelity layer's counts, over its Unix socket in the lab's state directory. */
export function fidelityCounts(socketPath: string): Promise<Counts> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/_fidelity/counts', method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Counts);
        } catch (e) {
          reject(
            new Error(
              `the fidelity layer's counts are not JSON: ${(e as Error).message}: ${body.slice(0, 200)}`,
            ),
          );
        }
      });
    });
    req.on('error', (e) =>
      reject(new Error(`the fidelity layer at ${socketPath} did not answer: ${e.message}`)),
    );
    req.end();
  });
}

async function until(what: string, fn: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the pool holds addresses and its size has not changed for 2 s. */
async function settle(read: () => Promise<{ total: number; free: number }>): Promise<void> {
  let last = -1;
  let since = Date.now();
  await until(
    'the pool to settle',
    async () => {
      const p = await read();
      if (p.total !== last) {
        last = p.total;
        since = Date.now();
        return false;
      }
      return p.total > 0 && p.free > 0 && Date.now() - since >= 2000;
    },
    120_000,
  );
}

async function labFor(cni: Cni, log: (l: string) => void, cleanup: Cleanup): Promise<LabHandle> {
  const runId = randomBytes(2).toString('hex');
  const lab = await bringUpLab({
    nodes: 1,
    instanceType: INSTANCE_TYPE,
    policy: 'aws-compatible',
    provider: 'localstack',
    runId,
    log,
    env: cni === 'imitation' ? { TIDEPOOL_COMPARISON_MODE: 'incumbent' } : {},
    cloudArgs: ['--ec2-fidelity'],
    daemon: cni === 'awsvpccni' ? 'none' : 'tidepool',
    // A Ctrl-C while the lab comes up removes what it made so far.
    onStarted: (downSoFar) => cleanup.add(`lab ${runId} (coming up)`, downSoFar),
  });
  cleanup.add(`lab ${runId}`, () => lab.down());
  return lab;
}

const INSTANCE_TYPE = 'm5.4xlarge';

async function runBurst(cni: Cni, pods: number, binDir: string, cleanup: Cleanup): Promise<BurstFigures> {
  const log = (l: string) => console.log(`# [${cni} ${pods}] ${l}`);
  const lab = await labFor(cni, log, cleanup);
  let agent: RealAgent | undefined;
  try {
    const node = lab.manifest.nodes[0];
    let hold: (name: string) => Promise<unknown>;
    let pool: () => Promise<{ total: number; free: number; assigned: number }>;
    let client: DaemonClient | undefined;
    if (cni === 'awsvpccni') {
      agent = await startRealAgent(lab, node, binDir, { clusterName: CLUSTER, log });
      const a = agent;
      cleanup.add('aws-k8s-agent', () => a.stop());
      hold = (name) => a.addNetwork(name);
      pool = () => a.pool();
    } else {
      const c = (client = new DaemonClient(node.socket));
      hold = (name) =>
        c.call(
          'Allocate',
          {
            network: 'tidepool',
            containerId: name,
            ifname: 'eth0',
            netns: `/var/run/netns/${name}`,
            podNamespace: 'default',
            podName: name,
            podUid: '',
          },
          30_000,
        );
      pool = () => c.call('Status', {}, 2000);
    }
    await settle(pool);
    // The pods' namespaces first (the runtime makes them before it calls the plugin), so that the burst
    // starts the moment the pool is empty, before either CNI's pool loop can refill it.
    const names = Array.from({ length: pods }, (_, i) => `burst-${i + 1}`);
    const boxes = await createSandboxes(lab, names);
    const runner = agent?.runner();
    const fsock = fidelitySocket(lab.manifest);
    // EC2 calls from here on are the burst's (holding makes none; a pool loop that reacts to it does).
    const countsBefore = await fidelityCounts(fsock);
    // Take every free address (again, if the pool grew meanwhile), as running pods would hold them.
    let held = 0;
    for (let round = 0; round < 5; round++) {
      const p = await pool();
      if (p.free === 0) break;
      await Promise.all(Array.from({ length: p.free }, () => hold(`holder${held++}`)));
    }
    const before = await pool();
    log(`pool before the burst: ${before.free} free, ${before.assigned} assigned, ${before.total} held`);
    if (before.free !== 0) throw new Error(`the pool is not empty before the burst (${before.free} free)`);
    const rand = rng(7);
    const t0 = Date.now();
    const starts = await Promise.all(
      boxes.map((box) =>
        startLikeKubelet(() => addInSandbox(lab, node, box, 30_000, runner).then(() => undefined), {
          clock: realClock,
          rand,
          giveUpMs: 300_000,
        }),
      ),
    );
    const countsAfter = await fidelityCounts(fsock);
    client?.close();
    const f = summarise(starts, t0, countsBefore, countsAfter);
    const errs = [...new Set(starts.map((s) => s.lastError).filter(Boolean))].slice(0, 2);
    log(`EC2 calls during the burst: ${JSON.stringify(f.byAction)}; throttled ${f.throttled}`);
    if (errs.length) log(`failed ADDs said: ${errs.map((e) => e!.slice(0, 160)).join(' | ')}`);
    return f;
  } finally {
    await agent?.stop();
    await lab.down();
  }
}

/** Brings the real incumbent up, addresses two pods through its plugin, pings, and leaves nothing behind. */
async function selfTest(binDir: string, cleanup: Cleanup): Promise<number> {
  const log = (l: string) => console.log(`# [self-test] ${l}`);
  const runMountPointsBefore = ['/run/aws-node', '/var/log/aws-routed-eni'].filter(existsSync);
  const lab = await labFor('awsvpccni', log, cleanup);
  const prefix = lab.manifest.prefix;
  const stateDir = lab.manifest.stateDir;
  let ok = true;
  const check = (what: string, pass: boolean) => {
    console.log(`SELFTEST ${pass ? 'ok  ' : 'FAIL'} ${what}`);
    ok &&= pass;
  };
  let agent: RealAgent | undefined;
  try {
    const node = lab.manifest.nodes[0];
    agent = await startRealAgent(lab, node, binDir, { clusterName: CLUSTER, log });
    check(`aws-k8s-agent ${'v1.23.2'} serves on ${node.name} (${node.netns})`, agent.alive());
    const rootLinks = async () =>
      (await runCommand(['ip', '-o', 'link', 'show'])).stdout
        .split('\n')
        .map((l) => l.split(':')[1]?.trim().split('@')[0])
        .filter((n): n is string => !!n && n.startsWith('eni'));
    const [a, b] = await createSandboxes(lab, ['selftest-a', 'selftest-b']);
    const runner = agent.runner();
    const addrA = await addInSandbox(lab, node, a, 30_000, runner);
    const addrB = await addInSandbox(lab, node, b, 30_000, runner);
    check(`aws-cni gave the two pods addresses: ${addrA}, ${addrB}`, addrA !== addrB && !!addrA && !!addrB);
    const pingR = await runCommand(['ip', 'netns', 'exec', a.netns, 'ping', '-c', '2', '-W', '2', addrB]);
    check(`pod a pings pod b (${addrA} -> ${addrB})`, pingR.code === 0);
    const rules = await runCommand(['ip', '-n', node.netns, 'rule', 'show']);
    check(
      `the agent's rules are in the node's namespace (to ${addrA} lookup main)`,
      rules.stdout.includes(addrA),
    );
    const stray = await rootLinks();
    check(
      `the root namespace got no host veth of the pods (eni*: ${stray.join(', ') || 'none'})`,
      stray.length === 0,
    );
    for (const box of [a, b]) {
      await runPlugin(
        node,
        { command: 'DEL', containerId: box.containerId, netns: box.netns, ifname: 'eth0', podName: box.name },
        runner,
      );
    }
    const pool = await agent.pool();
    check(`DEL gave both addresses back (assigned ${pool.assigned})`, pool.assigned === 0);
  } catch (e) {
    check(`self-test ran: ${(e as Error).message}`, false);
  } finally {
    await agent?.stop();
    await lab.down();
  }
  const netns = (await runCommand(['ip', 'netns', 'list'])).stdout;
  check('no lab namespace is left', !netns.includes(prefix));
  check('the lab state directory is gone', !existsSync(stateDir));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  check('no mount of the lab is left', !mounts.includes(stateDir) && !mounts.includes('aws-node'));
  removeMountPoints(
    ['/var/log/aws-routed-eni', '/run/aws-node'].filter((d) => !runMountPointsBefore.includes(d)),
  );
  check(
    'the mount points the agent needed are gone (or were there before)',
    ['/run/aws-node', '/var/log/aws-routed-eni'].every(
      (d) => runMountPointsBefore.includes(d) || !existsSync(d),
    ),
  );
  const labProcs = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/environ`, 'latin1').includes(`TIDEPOOL_LAB_ID=${stateDir}`);
      } catch {
        return false;
      }
    });
  check('no process of the lab is left', labProcs.length === 0);
  return ok ? 0 : 1;
}

export async function realMain(argv: string[]): Promise<number> {
  const opt = (name: string, def: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : def;
  };
  const cleanup = new Cleanup();
  cleanup.onSignals();
  try {
    const cnis = opt('cnis', CNIS.join(',')).split(',') as Cni[];
    for (const c of cnis)
      if (!CNIS.includes(c)) throw new Error(`--cnis: unknown CNI ${c} (one of ${CNIS.join(', ')})`);
    const podCounts = opt('pods', '30,60').split(',').map(Number);
    if (podCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 200))
      throw new Error(`--pods takes pod counts between 1 and 200, comma-separated, not ${opt('pods', '')}`);
    const selfTesting = argv.includes('--self-test');
    let binDir = '';
    if (selfTesting || cnis.includes('awsvpccni')) {
      const built = ensureAwsVpcCni(ROOT, (l) => console.log(`# ${l}`));
      binDir = built.binDir;
      if (built.builtSecs !== undefined) {
        console.log(`# first build of aws-vpc-cni v1.23.2: ${built.builtSecs} s (cached now in ${binDir})`);
        bench('aws_vpc_cni_first_build', built.builtSecs, 's', 0);
      } else console.log(`# aws-vpc-cni cached in ${binDir} (${built.note})`);
    }
    if (selfTesting) return await selfTest(binDir, cleanup);
    const lat = REALISTIC_LATENCY;
    console.log(
      `# ${podCounts.join(' and ')} pods at once on one ${INSTANCE_TYPE} node with an empty pool, on LocalStack behind the ` +
        `EC2 fidelity layer: latency medians (ms) Create ${lat.CreateNetworkInterface.medianMs}, Attach ${lat.AttachNetworkInterface.medianMs}, ` +
        `Assign ${lat.AssignPrivateIpAddresses.medianMs}; buckets ` +
        ['CreateNetworkInterface', 'AttachNetworkInterface', 'AssignPrivateIpAddresses']
          .map((a) => `${a} ${DEFAULT_BUCKETS[a].capacity}/${DEFAULT_BUCKETS[a].refillPerSec}`)
          .join(', ') +
        `; failed ADDs retried as the kubelet does: ${KUBELET_BACKOFF_MS} ms × (1 + ${KUBELET_JITTER}·rand)`,
    );
    const results: { cni: Cni; pods: number; f: BurstFigures }[] = [];
    for (const pods of podCounts)
      for (const cni of cnis) {
        const f = await runBurst(cni, pods, binDir, cleanup);
        results.push({ cni, pods, f });
        for (const l of benchLines(cni, pods, f)) console.log(l);
      }
    for (const pods of podCounts) {
      const t = results.find((r) => r.cni === 'tidepool' && r.pods === pods)?.f;
      const a = results.find((r) => r.cni === 'awsvpccni' && r.pods === pods)?.f;
      if (t && a)
        bench(`burst_real_speedup_vs_awsvpccni_${pods}pods`, a.allAddressedMs / t.allAddressedMs, 'x', 2);
    }
    return 0;
  } finally {
    await cleanup.run();
    cleanup.offSignals();
  }
}
