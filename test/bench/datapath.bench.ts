// Datapath benchmark (issue 5): is there an overlay tax? Three paths between the same two nodes of the
// lab, measured in one run, interleaved round by round so that noise from other work on the machine
// falls on all three alike:
//   pod   — pod on node-1 → pod on node-2 whose address lives on a SECONDARY interface (Tidepool's
//           datapath: veth, policy routing, the fabric's source/destination check);
//   bare  — node-1's namespace → node-2's namespace over the same fabric (the floor no CNI can beat);
//   vxlan — a flannel-style VXLAN overlay between the same two nodes carrying pod-to-pod traffic.
// Figures: iperf3 TCP throughput (one stream) and ping RTT. Prints BENCH lines; never fails on a timing.
//
//   npm run bench -- datapath [--seconds 2] [--rounds 8] [--self-test]
// --self-test measures bare and VXLAN on a fabric of our own without the lab (checks the harness).
import { cpus, loadavg } from 'node:os';
import { Cleanup } from '../../demo/cleanup.js';
import { preflight, PreflightError } from '../../demo/preflight.js';
import { buildFabric, randomPrefix } from './lib/fabric.js';
import { podPathInLab } from './lib/lab-pods.js';
import { bench, median } from './lib/stats.js';
import { pingRtt, tcpThroughput, type Endpoint } from './lib/traffic.js';
import { buildVxlanOverlay } from './lib/vxlan.js';

interface Path {
  name: 'pod' | 'bare' | 'vxlan';
  client: Endpoint;
  server: Endpoint;
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function main(): Promise<number> {
  preflight('datapath benchmark', ['ip', 'bridge', 'iperf3', 'ping', 'nft']);
  const seconds = arg('seconds', 2);
  const rounds = arg('rounds', 8);
  const selfTest = process.argv.includes('--self-test');
  const prefix = randomPrefix();
  const cleanup = new Cleanup();
  cleanup.onSignals();
  try {
    const paths: Path[] = [];
    let nodes: { ns: string; address: string; mtu: number }[];
    if (selfTest) {
      const fabric = await buildFabric(prefix);
      cleanup.add('fabric', () => fabric.remove());
      nodes = fabric.nodes;
      console.log(`# self-test: own fabric ${fabric.vpcNs}, no pods`);
    } else {
      const lab = await podPathInLab(prefix, (l) => console.log(`# ${l}`));
      cleanup.add('lab', () => lab.remove());
      nodes = lab.nodes;
      paths.push({ name: 'pod', client: lab.client, server: lab.server });
      console.log(
        `# pod path: ${lab.client.address} (node-1, device ${lab.clientDevice}) → ${lab.server.address} ` +
          `(node-2, secondary interface, device ${lab.serverDevice}); pod MTU ${lab.podMtu}`,
      );
    }
    const [a, b] = nodes;
    paths.push({
      name: 'bare',
      client: { ns: a.ns, address: a.address },
      server: { ns: b.ns, address: b.address },
    });
    const overlay = await buildVxlanOverlay(
      prefix,
      { ns: a.ns, underlayAddress: a.address, underlayMtu: a.mtu },
      { ns: b.ns, underlayAddress: b.address, underlayMtu: b.mtu },
    );
    cleanup.add('vxlan overlay', () => overlay.remove());
    paths.push({ name: 'vxlan', client: overlay.pods[0], server: overlay.pods[1] });
    console.log(
      `# fabric MTU ${a.mtu}; VXLAN MTU ${overlay.mtu}; ${rounds} rounds of ${seconds} s per path; ` +
        `load average (1 min) ${loadavg()[0].toFixed(2)} on ${cpus().length} CPUs`,
    );

    const tput = new Map<string, number[]>(paths.map((p) => [p.name, []]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no path always runs first (or last) in a round.
      const order = paths.map((_, i) => paths[(i + r) % paths.length]);
      for (const p of order) {
        const g = await tcpThroughput(p.client, p.server, seconds);
        tput.get(p.name)!.push(g);
        console.log(`# round ${r + 1} ${p.name}: ${g.toFixed(2)} Gbit/s`);
      }
    }
    const rtt = new Map<string, number>();
    for (const p of paths) rtt.set(p.name, (await pingRtt(p.client, p.server.address, 200)).avgMs);

    const med = (n: string) => median(tput.get(n) ?? []);
    for (const p of paths) {
      bench(`datapath_throughput_${p.name}`, med(p.name), 'Gbit/s', 2);
      bench(`datapath_rtt_${p.name}`, (rtt.get(p.name) ?? NaN) * 1000, 'us', 1);
    }
    // Ratios are the median over rounds of the ratio within a round: the paths of one round ran seconds
    // apart, so load from other work on the machine falls on both sides of each ratio alike.
    const ratio = (a: string, b: string) => median(tput.get(a)!.map((x, i) => x / tput.get(b)![i]));
    if (!selfTest) {
      bench('datapath_throughput_vs_bare', ratio('pod', 'bare'), 'ratio');
      bench('datapath_throughput_vs_vxlan', ratio('pod', 'vxlan'), 'ratio');
      bench('datapath_rtt_vs_bare', (rtt.get('pod') ?? NaN) / (rtt.get('bare') ?? NaN), 'ratio');
    }
    bench('datapath_vxlan_vs_bare', ratio('vxlan', 'bare'), 'ratio');
    console.log(`# load average (1 min) at the end: ${loadavg()[0].toFixed(2)} on ${cpus().length} CPUs`);
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
