// Fleet benchmark (issue 14): a cluster scale-out in virtual time. N daemons, each the real IpamCore
// (pool engine, reconciler, budget, store), share one account (EC2's per-action token buckets, realistic
// latency: providers/sim/actions.ts) and one subnet. The nodes join within a minute; each gets its pods
// as soon as its daemon is ready. Same trace, same seed, for every mode:
// - tidepool: the defaults (aws-compatible policy, parking, account-aware pacing, subnet scarcity mode);
// - adaptive: the same with TIDEPOOL_POOL_POLICY=adaptive;
// - incumbent: the comparison mode (ADD fails on an empty pool, 5 s tick, one step per tick, pre-scaling
//   before it serves) with the real AWS VPC CNI's EC2 traffic and the Go SDK's standard retry per call
//   (lib/incumbent-cloud.ts) and no client-side limit (reference aws-vpc-cni.md 4.4);
// - broker: every call of the fleet through one central queue at 4 calls/s, burst 20 (Cilium's operator).
// Scenarios: scale-out in secondary-IP mode (then a steady-churn phase) and in prefix mode (a large
// subnet), and subnet scarcity
// (secondary-IP mode, a subnet with 10% more free addresses than the fleet's pods). Prints BENCH lines
// and writes the plots (addresses held, pods waiting, per mode) to bench-plots/.
//
//   npm run bench -- fleet [--nodes 150] [--pods 30] [--seed 14] [--minutes 20] [--instance-type m5.xlarge]
//                          [--scenarios secondary,prefix,scarcity] [--modes tidepool,adaptive,incumbent,broker]
//                          [--churn-start 6] [--churn-minutes 10] [--churn-pods 12]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instanceLimits } from '../../providers/capacity.js';
import { CentralBroker } from './lib/broker.js';
import { generateChurn, rng } from './lib/churn-workload.js';
import { bucketLimit } from './lib/fleet-limit.js';
import { IncumbentSimProvider } from './lib/incumbent-cloud.js';
import { NO_CLIENT_BUCKETS, runFleet, type FleetMode, type FleetRunResult } from './lib/fleet-run.js';
import { bench, quantile } from './lib/stats.js';
import { lineChartSvg } from './lib/svg-plot.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const nodes = Number(arg('nodes', '150'));
const pods = Number(arg('pods', '30'));
const seed = Number(arg('seed', '14'));
const minutes = Number(arg('minutes', '20'));
const instanceType = arg('instance-type', 'm5.xlarge');
const scenarios = arg('scenarios', 'secondary,prefix,scarcity').split(',');
const modeNames = arg('modes', 'tidepool,adaptive,incumbent,broker').split(',');
const plotDir = arg('plots', 'bench-plots');
// The steady-churn phase (secondary-IP scenario): from --churn-start (minutes after the scale-out began,
// when every mode has addressed its scale-out) for --churn-minutes.
const churnStartMs = Number(arg('churn-start', '6')) * 60_000;
const churnMs = Number(arg('churn-minutes', '10')) * 60_000;
// Per node, the churn bench's generator (test/bench/lib/churn-workload.ts) at ClusterLoader2's per-node
// rate: 10 pods/s on 100 nodes is 0.1 pods/s a node (cloud-api-figures.md 6), mean life 45 s, HPA
// episodes (max(+4, ×2) per 15 s) and CronJob bursts at minute boundaries as in the churn bench; at most
// --churn-pods (12) of them live at once on a node, beside its scale-out pods: 42 pods and the addresses
// in their 30 s cooldown then fit the 56 an m5.xlarge can hold, so the phase compares pools, not the
// instance's address limit (with 26, the most max pods allows, every mode fails ADDs while all 56 are
// assigned or cooling). Seed seed × 1000 + n.
const churnPods = Number(arg('churn-pods', '12'));
const churnEvents = (n: number) =>
  generateChurn({ seed: seed * 1000 + n, durationMs: churnMs, maxPods: churnPods, steadyRate: 0.1 }).events;
// Extra settings for every mode, e.g. --env WARM_ENI_TARGET=0,IP_COOLDOWN_PERIOD=10 (for exploring).
const extraEnv = Object.fromEntries(
  arg('env', '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
);

interface Scenario {
  name: string;
  env: Record<string, string>;
  subnetCidr: string;
  /** Free addresses the subnet holds at the start (before the nodes' own primary addresses). */
  free?: number;
  prefixMode: boolean;
  /** Run the steady-churn phase after the scale-out (figures fleet_<mode>_churn_*). */
  churn?: boolean;
}

const SCENARIOS: Record<string, Scenario> = {
  secondary: { name: 'secondary', env: {}, subnetCidr: '10.0.0.0/17', prefixMode: false, churn: true },
  prefix: {
    name: 'prefix',
    env: { ENABLE_PREFIX_DELEGATION: 'true' },
    subnetCidr: '10.0.0.0/17',
    prefixMode: true,
  },
  // 10% more addresses than the fleet's pods, plus one primary address per node.
  scarcity: {
    name: 'scarcity',
    env: {},
    subnetCidr: '10.0.0.0/18',
    free: Math.ceil(nodes * pods * 1.1) + nodes,
    prefixMode: false,
  },
};

function modes(clockless: { broker?: CentralBroker }): Record<string, FleetMode> {
  return {
    tidepool: { name: 'tidepool', env: {}, budget: () => ({}) },
    adaptive: { name: 'adaptive', env: { TIDEPOOL_POOL_POLICY: 'adaptive' }, budget: () => ({}) },
    incumbent: {
      name: 'incumbent',
      env: { TIDEPOOL_COMPARISON_MODE: 'incumbent' },
      // The SDK's retries are per EC2 call, in the incumbent's provider; the budget adds none.
      budget: () => ({ pacing: false, maxAttempts: 1, buckets: NO_CLIENT_BUCKETS }),
      provider: (cloud, instanceId, n) =>
        new IncumbentSimProvider({ cloud, instanceId, random: rng(seed * 7919 + n) }),
    },
    broker: {
      name: 'broker',
      env: { TIDEPOOL_SUBNET_SCARCITY_PERCENT: '0' },
      budget: () => ({ pacing: false, buckets: NO_CLIENT_BUCKETS, gate: clockless.broker! }),
    },
  };
}

async function main(): Promise<void> {
  const limits = instanceLimits(instanceType);
  const joinRand = rng(seed);
  // N nodes join within a minute: uniform join times, sorted, seeded.
  const joins = Array.from({ length: nodes }, () => Math.round(joinRand() * 60_000)).sort((a, b) => a - b);
  console.log(
    `# fleet: seed ${seed} (rerun with --seed ${seed}); ${nodes} × ${instanceType} (${limits.maxInterfaces} interfaces × ` +
      `${limits.ipv4PerInterface} IPv4) joining within 60 s, ${pods} pods each as soon as the node is ready; ` +
      `${minutes} virtual minutes per run; one account: EC2 buckets and latency of cloud-api-figures.md 1.3/7`,
  );
  for (const sname of scenarios) {
    const sc = SCENARIOS[sname];
    if (!sc)
      throw new Error(`fleet: unknown scenario ${sname} (one of ${Object.keys(SCENARIOS).join(', ')})`);
    const limit = bucketLimit({
      joins,
      podsPerNode: pods,
      ipv4PerInterface: limits.ipv4PerInterface,
      prefixMode: sc.prefixMode,
    });
    if (sname !== 'scarcity') {
      console.log(
        `# ${sname}: bucket limit from the calls the work needs at least: ${JSON.stringify(limit.calls)}`,
      );
      bench(`fleet_limit_${sname}`, limit.ms, 'ms', 0);
    }
    const usable = 2 ** (32 - Number(sc.subnetCidr.split('/')[1])) - 5;
    const occupied = sc.free === undefined ? 0 : usable - sc.free;
    if (occupied < 0)
      throw new Error(`fleet: subnet ${sc.subnetCidr} is too small for ${sc.free} free addresses`);
    const results: FleetRunResult[] = [];
    for (const mname of modeNames) {
      const holder: { broker?: CentralBroker } = {};
      const mode = modes(holder)[mname];
      if (!mode) throw new Error(`fleet: unknown mode ${mname}`);
      const m: FleetMode = {
        ...mode,
        env: { ...sc.env, ...mode.env, ...extraEnv },
      };
      const r = await runFleet({
        mode: m,
        seed,
        instanceType,
        podsPerNode: pods,
        joins,
        subnetCidr: sc.subnetCidr,
        occupied,
        durationMs: minutes * 60_000,
        sampleMs: 1000,
        churn: sc.churn
          ? {
              startMs: churnStartMs,
              durationMs: churnMs,
              events: churnEvents,
            }
          : undefined,
        onClock: (clock) => {
          if (mname === 'broker') holder.broker = new CentralBroker(clock);
        },
      });
      results.push(r);
      const tag = `fleet_${mname}_${sname}`;
      console.log(
        `# ${sname} / ${mname}: ${(r.realMs / 1000).toFixed(1)} s real time; calls ${JSON.stringify(r.callsByAction)}; ` +
          `failed ADDs by reason ${JSON.stringify(r.failReasons)}`,
      );
      bench(`${tag}_addressed_p50`, quantile(r.addressedAt, 0.5), 'ms', 0);
      bench(`${tag}_addressed_p99`, quantile(r.addressedAt, 0.99), 'ms', 0);
      bench(`${tag}_addressed_max`, r.notStarted ? Infinity : Math.max(...r.addressedAt), 'ms', 0);
      bench(`${tag}_wait_p99`, quantile(r.waitsMs, 0.99), 'ms', 0);
      // From each node's own launch: what the CNI costs a node and its pods, without the launches' spread.
      bench(`${tag}_node_ready_after_launch_p50`, quantile(r.readyAfterLaunchMs, 0.5), 'ms', 0);
      bench(`${tag}_node_ready_after_launch_max`, Math.max(...r.readyAfterLaunchMs), 'ms', 0);
      bench(`${tag}_from_launch_p50`, quantile(r.fromLaunchMs, 0.5), 'ms', 0);
      bench(`${tag}_from_launch_p99`, quantile(r.fromLaunchMs, 0.99), 'ms', 0);
      bench(`${tag}_from_launch_max`, r.notStarted ? Infinity : Math.max(...r.fromLaunchMs), 'ms', 0);
      bench(`${tag}_not_started`, r.notStarted, 'pods', 0);
      if (r.launchFailed) {
        console.log(`# ${sname} / ${mname}: ${r.launchFailed} nodes could not launch: ${r.launchError}`);
        bench(`${tag}_nodes_not_launched`, r.launchFailed, 'count', 0);
      }
      bench(`${tag}_failed_adds`, r.failedAdds, 'count', 0);
      bench(`${tag}_throttled_calls`, r.throttled, 'count', 0);
      bench(`${tag}_total_calls`, r.calls, 'count', 0);
      bench(`${tag}_idle_address_hours`, r.idleAddressHours, 'address-hours', 2);
      if (r.churn) {
        const c = r.churn;
        const ctag = `fleet_${mname}_churn`;
        console.log(
          `# churn / ${mname}: ${c.pods} pods created over ${churnMs / 60_000} min; calls ${JSON.stringify(c.callsByAction)}; ` +
            `failed ADDs by reason ${JSON.stringify(c.failReasons)}`,
        );
        bench(`${ctag}_wait_p50`, quantile(c.waitsMs, 0.5), 'ms', 0);
        bench(`${ctag}_wait_p99`, quantile(c.waitsMs, 0.99), 'ms', 0);
        bench(`${ctag}_wait_max`, c.waitsMs.length ? Math.max(...c.waitsMs) : 0, 'ms', 0);
        bench(`${ctag}_not_started`, c.notStarted, 'pods', 0);
        bench(`${ctag}_failed_adds`, c.failedAdds, 'count', 0);
        bench(`${ctag}_throttled_calls`, c.throttled, 'count', 0);
        bench(`${ctag}_total_calls`, c.calls, 'count', 0);
        bench(`${ctag}_idle_address_hours`, c.idleAddressHours, 'address-hours', 2);
      }
      // Every mode's last pod against the limit: the incumbent's is also the most any CNI could gain on it.
      if (sname !== 'scarcity' && r.notStarted === 0)
        bench(`${tag}_vs_limit`, Math.max(...r.addressedAt) / limit.ms, 'x', 2);
    }
    const tp = results.find((r) => r.mode === 'tidepool');
    const last = (r: FleetRunResult) => (r.notStarted ? Infinity : Math.max(...r.addressedAt));
    const lastFromLaunch = (r: FleetRunResult) => (r.notStarted ? Infinity : Math.max(...r.fromLaunchMs));
    for (const other of results.filter((r) => r.mode === 'incumbent' || r.mode === 'broker'))
      if (tp && sname !== 'scarcity') {
        bench(`fleet_tidepool_${sname}_speedup_vs_${other.mode}`, last(other) / last(tp), 'x', 2);
        bench(
          `fleet_tidepool_${sname}_from_launch_speedup_vs_${other.mode}`,
          lastFromLaunch(other) / lastFromLaunch(tp),
          'x',
          2,
        );
      }
    // The plot shows the first 10 minutes, where the scale-out happens (the figures cover the whole run).
    const plotMs = sc.churn ? churnStartMs : Math.min(minutes * 60_000, 600_000);
    const shown = (r: FleetRunResult) => r.series.filter((p) => p.t <= plotMs);
    mkdirSync(plotDir, { recursive: true });
    const file = join(plotDir, `fleet-${sname}.svg`);
    writeFileSync(
      file,
      lineChartSvg(
        `fleet ${sname}: ${nodes} × ${instanceType}, ${pods} pods each, seed ${seed}`,
        'seconds since the scale-out began',
        [
          {
            title: 'addresses held by the fleet',
            yLabel: 'addresses',
            series: results.map((r) => ({
              name: r.mode,
              points: shown(r).map((p) => ({ x: p.t / 1000, y: p.held })),
            })),
          },
          {
            title: 'pods waiting for an address',
            yLabel: 'pods',
            series: results.map((r) => ({
              name: r.mode,
              points: shown(r).map((p) => ({ x: p.t / 1000, y: p.waiting })),
            })),
          },
        ],
      ),
    );
    console.log(`# plot: ${file}`);
    if (sc.churn && results.some((r) => r.churn)) {
      const inPhase = (r: FleetRunResult) =>
        r.series.filter((p) => p.t > churnStartMs && p.t <= churnStartMs + churnMs);
      const churnFile = join(plotDir, 'fleet-churn.svg');
      writeFileSync(
        churnFile,
        lineChartSvg(
          `fleet steady churn after the scale-out: ${nodes} × ${instanceType}, seed ${seed}`,
          'seconds since the churn phase began',
          [
            {
              title: 'addresses held by the fleet',
              zoom: true,
              yLabel: 'addresses',
              series: results.map((r) => ({
                name: r.mode,
                points: inPhase(r).map((p) => ({ x: (p.t - churnStartMs) / 1000, y: p.held })),
              })),
            },
            {
              title: 'pods waiting for an address',
              yLabel: 'pods',
              series: results.map((r) => ({
                name: r.mode,
                points: inPhase(r).map((p) => ({ x: (p.t - churnStartMs) / 1000, y: p.waiting })),
              })),
            },
          ],
        ),
      );
      console.log(`# plot: ${churnFile}`);
    }
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
