// The pod path of the datapath benchmark, in the one-machine lab (the demo's lab adapter): two nodes on
// the embedded cloud, a client pod on node-1, and a server pod on node-2 whose address lives on a
// SECONDARY interface (pods are added on node-2 until one lands on a device number above 0).
import { bringUpLab } from '../../../demo/lab-adapter.js';
import { run } from '../../../demo/exec.js';
import type { Endpoint } from './traffic.js';

export interface LabPodPath {
  nodes: { ns: string; address: string; mtu: number }[];
  client: Endpoint;
  server: Endpoint;
  clientDevice: number;
  serverDevice: number;
  podMtu: number;
  remove(): Promise<void>;
}

/** The overlay's pod subnets; excluded from Tidepool's SNAT as an operator running both would do. */
export const OVERLAY_CIDR = '10.244.0.0/16';

export async function podPathInLab(prefix: string, log: (line: string) => void): Promise<LabPodPath> {
  const lab = await bringUpLab({
    nodes: 2,
    instanceType: 'm5.large',
    policy: 'aws-compatible',
    provider: 'sim',
    runId: prefix.replace(/^tp-demo-/, ''),
    log,
    env: { AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: OVERLAY_CIDR },
  });
  try {
    const [n1, n2] = lab.manifest.nodes;
    const client = await lab.addPod(n1.name, 'dp-client');
    let server = await lab.addPod(n2.name, 'dp-server-1');
    for (let i = 2; (server.deviceNumber ?? 0) === 0 && i <= 40; i++) {
      server = await lab.addPod(n2.name, `dp-server-${i}`);
    }
    if (!server.deviceNumber)
      throw new Error('no pod on node-2 landed on a secondary interface after 40 pods (see the daemon log)');
    const nsOf = (name: string) => lab.manifest.pods.find((p) => p.name === name)!.netns;
    const mtu = async (ns: string) => {
      const r = await run('ip', ['-n', ns, '-j', 'link', 'show', 'eth0']);
      return (JSON.parse(r.stdout) as { mtu: number }[])[0].mtu;
    };
    return {
      nodes: await Promise.all(
        [n1, n2].map(async (n) => ({ ns: n.netns, address: n.primaryAddress, mtu: await mtu(n.netns) })),
      ),
      client: { ns: nsOf(client.name), address: client.address },
      server: { ns: nsOf(server.name), address: server.address },
      clientDevice: client.deviceNumber ?? -1,
      serverDevice: server.deviceNumber,
      podMtu: await mtu(nsOf(server.name)),
      remove: () => lab.down(),
    };
  } catch (err) {
    await lab.down();
    throw err;
  }
}
