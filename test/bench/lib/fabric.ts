// A minimal routed fabric of our own: a "vpc" namespace routing between two node namespaces, each on
// its own veth. The datapath benchmark uses it only to check the harness itself (`--self-test`) and as
// the bare/VXLAN baseline when the lab cannot start; the pod path always comes from the real lab.
import { randomBytes } from 'node:crypto';
import { ipBatch, run } from '../../../demo/exec.js';

export interface Fabric {
  prefix: string;
  vpcNs: string;
  nodes: { ns: string; address: string; mtu: number }[];
  remove(): Promise<void>;
}

export function randomPrefix(area = 'tp-demo'): string {
  return `${area}-${randomBytes(3).toString('hex')}`;
}

export async function buildFabric(prefix: string, mtu = 9001): Promise<Fabric> {
  const vpcNs = `${prefix}-vpc`;
  const nodeNs = [`${prefix}-n1`, `${prefix}-n2`];
  const fabric: Fabric = {
    prefix,
    vpcNs,
    nodes: nodeNs.map((ns, i) => ({ ns, address: `10.0.${i + 1}.10`, mtu })),
    remove: async () => {
      for (const ns of [vpcNs, ...nodeNs]) await run('ip', ['netns', 'del', ns], { allowFailure: true });
    },
  };
  try {
    for (const ns of [vpcNs, ...nodeNs]) await run('ip', ['netns', 'add', ns]);
    await run('ip', ['netns', 'exec', vpcNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (let i = 0; i < 2; i++) {
      const ns = nodeNs[i];
      await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      await ipBatch(
        [
          `link add n${i + 1} mtu ${mtu} type veth peer name eth0 netns ${ns}`,
          `link set n${i + 1} up`,
          `addr add 10.0.${i + 1}.1/24 dev n${i + 1}`,
        ],
        vpcNs,
      );
      await ipBatch(
        [
          'link set lo up',
          'link set eth0 up',
          `addr add 10.0.${i + 1}.10/24 dev eth0`,
          `route add default via 10.0.${i + 1}.1`,
        ],
        ns,
      );
    }
    return fabric;
  } catch (err) {
    await fabric.remove();
    throw err;
  }
}
