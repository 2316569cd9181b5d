// Burst benchmark (issue 5): 60 pods created at once, through the real CNI plugin in the one-machine
// lab, on a node whose pool is empty; Tidepool's default mode and the incumbent comparison mode
// (TIDEPOOL_COMPARISON_MODE=incumbent: ADD fails at once on an empty pool, 5 s tick, one batch per
// tick) on the same lab recipe, in the same run. Prints BENCH lines; never fails on a timing.
//
//   npm run bench -- burst [--pods 60] [--instance-type m5.4xlarge]
//
// How the pool is made empty: the lab node comes up with the default warm target and its pool settles;
// the benchmark then takes every free address with Allocate calls over the daemon's gRPC socket (as
// pods already running on the node would hold them), checks that Status reports free = 0, and at once
// starts the burst. The cloud is the sim with the AWS figures (see FIGURES below). For the incumbent,
// a failed ADD is retried as the kubelet retries a failed sandbox (lib/kubelet-retry.ts: 10 s backoff,
// jitter factor 0.5), so "time until every pod has its address" is defined for both.
import { randomBytes } from 'node:crypto';
import { DaemonClient } from '../../cni/client.js';
import { realClock } from '../../providers/clock.js';
import { DEFAULT_BUCKETS, REALISTIC_LATENCY } from '../../providers/sim/actions.js';
import { Cleanup } from '../../demo/cleanup.js';
import { bringUpLab, type LabHandle } from '../../demo/lab-adapter.js';
import { preflight, PreflightError } from '../../demo/preflight.js';
import { rng } from './lib/churn-workload.js';
import { KUBELET_BACKOFF_MS, KUBELET_JITTER, startLikeKubelet, type PodStart } from './lib/kubelet-retry.js';
import { bench, quantile, sum } from './lib/stats.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const PODS = Number(arg('pods', '60'));
const INSTANCE_TYPE = arg('instance-type', 'm5.4xlarge');

interface ModeResult {
  mode: string;
  starts: PodStart[];
  readyMs: number[];
  failedAdds: number;
  podsThatFailed: number;
  calls: Record<string, number>;
  poolBefore: { free: number; total: number; assigned: number };
  wallMs: number;
}

async function waitForSettledPool(c: DaemonClient): Promise<void> {
  // Settled: the pool holds addresses and its size has not changed for 2 s.
  let last = -1;
  let since = Date.now();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const s = await c.call('Status', {}, 2000);
    if (s.total !== last) {
      last = s.total;
      since = Date.now();
    } else if (s.total > 0 && Date.now() - since >= 2000) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the pool did not settle within 60 s');
}

async function runMode(mode: 'tidepool' | 'incumbent', cleanup: Cleanup): Promise<ModeResult> {
  const env: Record<string, string> = mode === 'incumbent' ? { TIDEPOOL_COMPARISON_MODE: 'incumbent' } : {};
  const runId = randomBytes(2).toString('hex');
  const lab: LabHandle = await bringUpLab({
    nodes: 1,
    instanceType: INSTANCE_TYPE,
    policy: 'aws-compatible',
    provider: 'sim',
    runId,
    log: (l) => console.log(`# [${mode}] ${l}`),
    env,
  });
  cleanup.add(`lab ${runId}`, () => lab.down());
  try {
    const node = lab.manifest.nodes[0];
    const client = new DaemonClient(node.socket);
    await waitForSettledPool(client);
    // Take every free address, as pods already on the node would hold them: the pool is now empty.
    const settled = await client.call('Status', {}, 2000);
    await Promise.all(
      Array.from({ length: settled.free }, (_, i) =>
        client.call(
          'Allocate',
          {
            network: 'tidepool',
            containerId: `holder${i}`,
            ifname: 'eth0',
            netns: `/var/run/netns/holder${i}`,
            podNamespace: 'default',
            podName: `holder-${i}`,
            podUid: '',
          },
          30_000,
        ),
      ),
    );
    const before = await client.call('Status', {}, 2000);
    console.log(
      `# [${mode}] pool before the burst: ${before.free} free, ${before.assigned} assigned, ${before.total} held`,
    );
    const callsBefore = await lab.cloudCalls();

    const rand = rng(7);
    let failedAdds = 0;
    const t0 = Date.now();
    const starts = await Promise.all(
      Array.from({ length: PODS }, (_, i) =>
        startLikeKubelet(() => lab.addPod(node.name, `burst-${i + 1}`).then(() => undefined), {
          clock: realClock,
          rand,
          giveUpMs: 300_000,
          onFailure: () => failedAdds++,
        }),
      ),
    );
    const wallMs = Date.now() - t0;
    const callsAfter = await lab.cloudCalls();
    client.close();
    const calls: Record<string, number> = {};
    for (const [k, v] of Object.entries(callsAfter))
      if (v - (callsBefore[k] ?? 0) > 0) calls[k] = v - (callsBefore[k] ?? 0);
    return {
      mode,
      starts,
      readyMs: starts.filter((s) => s.readyAt !== undefined).map((s) => s.readyAt! - t0),
      failedAdds,
      podsThatFailed: starts.filter((s) => s.failures > 0).length,
      calls,
      poolBefore: before,
      wallMs,
    };
  } finally {
    await lab.down();
  }
}

function report(r: ModeResult, suffix: string): void {
  const never = r.starts.filter((s) => s.readyAt === undefined).length;
  bench(`burst_failed_adds${suffix}`, r.failedAdds, 'count', 0);
  bench(`burst_pods_with_failed_add${suffix}`, r.podsThatFailed, 'count', 0);
  bench(`burst_never_addressed${suffix}`, never, 'count', 0);
  bench(`burst_all_addressed${suffix}`, never ? NaN : Math.max(...r.readyMs), 'ms', 0);
  bench(`burst_addressed_p50${suffix}`, quantile(r.readyMs, 0.5), 'ms', 0);
  bench(`burst_addressed_p99${suffix}`, quantile(r.readyMs, 0.99), 'ms', 0);
  bench(`burst_cloud_calls${suffix}`, sum(Object.values(r.calls)), 'count', 0);
  console.log(`# ${r.mode}: cloud calls during the burst: ${JSON.stringify(r.calls)}`);
}

async function main(): Promise<number> {
  preflight('burst benchmark', ['ip', 'nft', 'ping']);
  const lat = REALISTIC_LATENCY;
  const onePlusOne =
    lat.CreateNetworkInterface.medianMs +
    lat.AttachNetworkInterface.medianMs +
    lat.AssignPrivateIpAddresses.medianMs;
  console.log(
    `# ${PODS} pods at once on one ${INSTANCE_TYPE} node with an empty pool; sim latency medians (ms): ` +
      `CreateNetworkInterface ${lat.CreateNetworkInterface.medianMs}, AttachNetworkInterface ${lat.AttachNetworkInterface.medianMs}, ` +
      `AssignPrivateIpAddresses ${lat.AssignPrivateIpAddresses.medianMs}; throttling buckets (capacity/refill per s): ` +
      ['CreateNetworkInterface', 'AttachNetworkInterface', 'AssignPrivateIpAddresses']
        .map((a) => `${a} ${DEFAULT_BUCKETS[a].capacity}/${DEFAULT_BUCKETS[a].refillPerSec}`)
        .join(', ') +
      `; incumbent retried as the kubelet does: ${KUBELET_BACKOFF_MS} ms backoff, jitter ${KUBELET_JITTER}`,
  );
  const cleanup = new Cleanup();
  cleanup.onSignals();
  try {
    const tidepool = await runMode('tidepool', cleanup);
    const incumbent = await runMode('incumbent', cleanup);
    bench('burst_target_one_attach_plus_assign', onePlusOne, 'ms', 0);
    report(tidepool, '');
    report(incumbent, '_incumbent');
    return 0;
  } finally {
    await cleanup.run();
    cleanup.offSignals();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof PreflightError ? err.message : err);
    process.exit(err instanceof PreflightError ? err.exitCode : 1);
  },
);
