// Churn benchmark (issue 5): 30 minutes of pod churn on one node in VIRTUAL time — the daemon's real core
// (IpamCore: pool engine, reconciler, budget, SQLite store) on the in-process sim cloud with realistic
// EC2 latency and throttling — comparing, on the same generated workloads (steady arrivals, HPA
// doublings, CronJob minute bursts: lib/churn-workload.ts), Tidepool's default policy, the incumbent
// comparison mode and the adaptive policy. Two warm-pool settings: the defaults (WARM_ENI_TARGET=1)
// and the address-saving tuning users adopt (WARM_IP_TARGET=5, MINIMUM_IP_TARGET=10). Several seeds;
// figures are per 30-minute run (means), waits pooled over all runs. Prints BENCH lines and writes the
// plots (addresses held and pods waiting over time, one line per configuration, one seed's workload:
// --plot-seed, by default 1002, the workload of the five where the defaults' rows differ most) to
// bench-plots/churn-defaults.svg and churn-warm-ip.svg.
//
//   npm run bench -- churn [--minutes 30] [--seeds 5] [--instance-type m5.4xlarge] [--only adaptive,economy]
//                          [--plots bench-plots] [--plot-seed 1002]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instanceLimits, maxPods } from '../../providers/capacity.js';
import { defaultChurn, generateChurn } from './lib/churn-workload.js';
import { runChurn, type ChurnRunResult, type ChurnSample } from './lib/churn-run.js';
import { KUBELET_BACKOFF_MS, KUBELET_JITTER } from './lib/kubelet-retry.js';
import { bench, quantile, sum } from './lib/stats.js';
import { lineChartSvg, type Panel } from './lib/svg-plot.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const ECONOMY = { WARM_IP_TARGET: '5', MINIMUM_IP_TARGET: '10' };
// `plot`: which plot the configuration's line is in (the defaults or the WARM_IP_TARGET tuning), and
// its name in the legend.
const CONFIGS: {
  name: string;
  suffix: string;
  env: Record<string, string>;
  plot: 'defaults' | 'warm-ip';
  legend: string;
}[] = [
  { name: 'tidepool, defaults', suffix: '', env: {}, plot: 'defaults', legend: 'tidepool' },
  {
    name: 'incumbent, defaults',
    suffix: '_incumbent',
    env: { TIDEPOOL_COMPARISON_MODE: 'incumbent' },
    plot: 'defaults',
    legend: 'incumbent',
  },
  {
    name: 'tidepool adaptive',
    suffix: '_adaptive',
    env: { TIDEPOOL_POOL_POLICY: 'adaptive' },
    plot: 'defaults',
    legend: 'tidepool adaptive',
  },
  {
    name: 'tidepool, WARM_IP_TARGET=5 MINIMUM_IP_TARGET=10',
    suffix: '_economy',
    env: ECONOMY,
    plot: 'warm-ip',
    legend: 'tidepool',
  },
  {
    name: 'incumbent, WARM_IP_TARGET=5 MINIMUM_IP_TARGET=10',
    suffix: '_economy_incumbent',
    env: { ...ECONOMY, TIDEPOOL_COMPARISON_MODE: 'incumbent' },
    plot: 'warm-ip',
    legend: 'incumbent',
  },
];
const PLOTS = {
  defaults: 'defaults (WARM_ENI_TARGET=1)',
  'warm-ip': 'WARM_IP_TARGET=5 MINIMUM_IP_TARGET=10',
};

async function main(): Promise<void> {
  const minutes = Number(arg('minutes', '30'));
  const seeds = Number(arg('seeds', '5'));
  const instanceType = arg('instance-type', 'm5.4xlarge');
  const plotDir = arg('plots', 'bench-plots');
  // Seed 1002: the incumbent's defaults fail 6 ADDs and the adaptive policy makes 11 pods wait on it (on
  // seed 1000 neither happens, and its plot of the defaults would show no wait at all).
  const plotSeed = Number(arg('plot-seed', '1002'));
  // The kubelet's max pods as EKS sets it: the ENI formula, capped at 110 for ≤ 30 vCPUs and 250 above
  // (max-pods-calculator.sh, cloud-api-figures.md section 6); minus the two host-network DaemonSets.
  const limits = instanceLimits(instanceType);
  const podsMax = Math.min(maxPods(limits, { prefixDelegation: false }), limits.vcpus > 30 ? 250 : 110) - 2;
  const workloads = Array.from({ length: seeds }, (_, i) =>
    generateChurn({ durationMs: minutes * 60_000, seed: 1000 + i, maxPods: podsMax }),
  );
  const adds = sum(workloads.map((w) => w.events.filter((e) => e.op === 'add').length));
  console.log(
    `# ${seeds} workloads × ${minutes} min of churn on one ${instanceType} (max ${podsMax} pods): ${adds} pods in all ` +
      `(steady ${defaultChurn.steadyRate}/s per node, mean life ${defaultChurn.steadyLifetimeMs / 1000} s; HPA from ` +
      `${defaultChurn.hpaBase} replicas, ${defaultChurn.hpaDoublings} doublings every ~${defaultChurn.hpaEveryMs / 60_000} min; ` +
      `CronJob bursts of ${defaultChurn.cronSize.join('–')} pods at ${defaultChurn.cronProbability * 100}% of minutes); ` +
      `sim: realistic EC2 latency and throttling; failed ADDs retried after ${KUBELET_BACKOFF_MS} ms × (1 + ${KUBELET_JITTER}·rand)`,
  );
  // --only <suffix>[,<suffix>]: run only these configurations (defaults = the empty suffix, "defaults").
  const only = arg('only', '')
    .split(',')
    .filter(Boolean)
    .map((x) => (x === 'defaults' ? '' : `_${x}`));
  // The --plot-seed run of every configuration, for the plots.
  const plotIndex = plotSeed - 1000;
  if (!Number.isInteger(plotIndex) || plotIndex < 0 || plotIndex >= seeds)
    throw new Error(`--plot-seed ${plotSeed}: not one of the seeds run (1000 to ${1000 + seeds - 1})`);
  const plotted: { c: (typeof CONFIGS)[number]; r: ChurnRunResult }[] = [];
  for (const c of CONFIGS.filter((k) => !only.length || only.includes(k.suffix))) {
    const t = Date.now();
    const runs: ChurnRunResult[] = [];
    for (const [i, w] of workloads.entries())
      runs.push(
        await runChurn({
          name: c.name,
          env: c.env,
          instanceType,
          events: w.events,
          durationMs: minutes * 60_000,
          warmupMs: 120_000,
          seed: 1000 + i,
        }),
      );
    plotted.push({ c, r: runs[plotIndex] });
    const waits = runs.flatMap((r) => r.waitsMs);
    const mean = (f: (r: ChurnRunResult) => number) => sum(runs.map(f)) / runs.length;
    const reasons: Record<string, number> = {};
    for (const r of runs)
      for (const [k, v] of Object.entries(r.failReasons)) reasons[k] = (reasons[k] ?? 0) + v;
    console.log(
      `# ${c.name}: ${((Date.now() - t) / 1000).toFixed(1)} s real time; failed ADDs by reason ${JSON.stringify(reasons)}, ` +
        `per seed ${runs.map((r) => r.failedAdds).join(' ')}; pods that waited per seed ` +
        runs.map((r) => r.waitsMs.filter((w) => w > 0).length).join(' '),
    );
    bench(
      `churn_idle_address_hours${c.suffix}`,
      mean((r) => r.idleAddressHours),
      'address-hours',
      2,
    );
    bench(
      `churn_held_address_hours${c.suffix}`,
      mean((r) => r.heldAddressHours),
      'address-hours',
      2,
    );
    bench(`churn_wait_p99${c.suffix}`, quantile(waits, 0.99), 'ms', 0);
    bench(`churn_wait_max${c.suffix}`, Math.max(0, ...waits), 'ms', 0);
    bench(
      `churn_pods_waited${c.suffix}`,
      mean((r) => r.waitsMs.filter((w) => w > 0).length),
      'count',
      1,
    );
    bench(
      `churn_failed_adds${c.suffix}`,
      mean((r) => r.failedAdds),
      'count',
      1,
    );
    bench(
      `churn_cloud_calls${c.suffix}`,
      mean((r) => sum(Object.values(r.cloudCalls))),
      'count',
      1,
    );
  }
  mkdirSync(plotDir, { recursive: true });
  for (const [plot, what] of Object.entries(PLOTS)) {
    const lines = plotted.filter((p) => p.c.plot === plot);
    if (!lines.length) continue;
    const line = (name: string, r: ChurnRunResult, y: (s: ChurnSample) => number) => ({
      name,
      points: r.series.map((s) => ({ x: s.t / 60_000, y: y(s) })),
    });
    const held: Panel = {
      title: 'addresses held by the node',
      yLabel: 'addresses',
      // What the first configuration's pods hold, for scale: the gap above it is what is idle.
      series: [
        ...lines.map(({ c, r }) => line(c.legend, r, (s) => s.held)),
        line(`in use, ${lines[0].c.legend}`, lines[0].r, (s) => s.assigned),
      ],
    };
    const waiting: Panel = {
      title: 'pods waiting for an address (in each second)',
      yLabel: 'pods',
      series: lines.map(({ c, r }) => line(c.legend, r, (s) => s.waiting)),
    };
    const file = join(plotDir, `churn-${plot}.svg`);
    writeFileSync(
      file,
      lineChartSvg(
        `churn, ${what}: seed ${plotSeed}, ${workloads[plotIndex].events.filter((e) => e.op === 'add').length} pods, one ${instanceType}`,
        'minutes since the workload began (virtual time)',
        [held, waiting],
      ),
    );
    console.log(`# plot: ${file}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
