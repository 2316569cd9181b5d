// Churn benchmark (issue 5): 30 minutes of pod churn on one node in VIRTUAL time — the daemon's real core
// on the in-process sim cloud (realistic EC2 latency and throttling) — for Tidepool's default policy,
// the incumbent comparison mode and the adaptive policy, on the same generated workload (steady
// arrivals, HPA doublings, CronJob minute bursts: lib/churn-workload.ts). Prints BENCH lines.
//
//   npm run bench -- churn [--minutes 30] [--seed 42] [--instance-type m5.xlarge]
import { instanceLimits, maxPods } from '../../providers/capacity.js';
import { defaultChurn, generateChurn } from './lib/churn-workload.js';
import { runChurn, type ChurnRunResult } from './lib/churn-run.js';
import { KUBELET_BACKOFF_MS, KUBELET_JITTER } from './lib/kubelet-retry.js';
import { bench, quantile, sum } from './lib/stats.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const MODES: { name: string; suffix: string; env: Record<string, string> }[] = [
  { name: 'tidepool (aws-compatible, default)', suffix: '', env: {} },
  {
    name: 'incumbent (comparison mode)',
    suffix: '_incumbent',
    env: { TIDEPOOL_COMPARISON_MODE: 'incumbent' },
  },
  { name: 'tidepool adaptive policy', suffix: '_adaptive', env: { TIDEPOOL_POOL_POLICY: 'adaptive' } },
];

async function main(): Promise<void> {
  const minutes = Number(arg('minutes', '30'));
  const seed = Number(arg('seed', '42'));
  const instanceType = arg('instance-type', 'm5.xlarge');
  const podsMax = maxPods(instanceLimits(instanceType), { prefixDelegation: false }) - 2; // minus the host-network DaemonSets
  const workload = generateChurn({ durationMs: minutes * 60_000, seed, maxPods: podsMax });
  const adds = workload.events.filter((e) => e.op === 'add').length;
  console.log(
    `# ${minutes} min of churn on one ${instanceType} (max ${podsMax} pods): ${adds} pods created ` +
      `(steady ${workload.counts.steady} at ${defaultChurn.steadyRate}/s, HPA ${workload.counts.hpa}, CronJob ${workload.counts.cron}; ` +
      `${workload.dropped} not placed: node full); sim: realistic EC2 latency and throttling; failed ADDs retried ` +
      `after ${KUBELET_BACKOFF_MS} ms × (1 + ${KUBELET_JITTER}·rand)`,
  );
  const results: { suffix: string; r: ChurnRunResult }[] = [];
  for (const m of MODES) {
    const t = Date.now();
    const r = await runChurn({
      name: m.name,
      env: m.env,
      instanceType,
      events: workload.events,
      durationMs: minutes * 60_000,
      warmupMs: 120_000,
      seed,
    });
    console.log(
      `# ${m.name}: ran in ${((Date.now() - t) / 1000).toFixed(1)} s real time; calls ${JSON.stringify(r.cloudCalls)}`,
    );
    results.push({ suffix: m.suffix, r });
  }
  for (const { suffix, r } of results) {
    bench(`churn_idle_address_hours${suffix}`, r.idleAddressHours, 'address-hours', 2);
    bench(`churn_held_address_hours${suffix}`, r.heldAddressHours, 'address-hours', 2);
    bench(`churn_wait_p99${suffix}`, quantile(r.waitsMs, 0.99), 'ms', 0);
    bench(`churn_wait_max${suffix}`, Math.max(0, ...r.waitsMs), 'ms', 0);
    bench(`churn_pods_waited${suffix}`, r.waitsMs.filter((w) => w > 0).length, 'count', 0);
    bench(`churn_failed_adds${suffix}`, r.failedAdds, 'count', 0);
    bench(`churn_cloud_calls${suffix}`, sum(Object.values(r.cloudCalls)), 'count', 0);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
