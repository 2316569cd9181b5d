// A VXLAN overlay between two node namespaces, built the way flannel's vxlan backend builds it: one pod
// subnet per node, a VTEP device per node, and for the peer a route `subnet via <vtep ip> onlink`, a
// permanent neighbour entry and an fdb entry pointing at the peer's underlay address. A pod namespace
// hangs off each node by a veth, so the overlay path carries pod-to-pod traffic exactly as Tidepool's
// datapath does (pod veth → node → fabric → node → pod veth), plus the encapsulation.
import { ipBatch, run } from '../../../demo/exec.js';

export interface OverlayNode {
  /** The node's network namespace. */
  ns: string;
  /** The node's address on the fabric (outer source/destination of the VXLAN packets). */
  underlayAddress: string;
  /** MTU of the node's fabric link; the overlay takes 50 bytes off it (outer IPv4 + UDP + VXLAN + Ethernet). */
  underlayMtu: number;
}

export interface Overlay {
  /** Pod namespaces, one per node, with their overlay addresses. */
  pods: { ns: string; address: string }[];
  mtu: number;
  /** Removes the pod namespaces and every link the overlay added to the node namespaces. */
  remove(): Promise<void>;
}

const VXLAN_OVERHEAD = 50;
const VNI = 4242;

/** Builds the overlay between `a` and `b`; pod namespaces are named `${prefix}-ovl1` / `-ovl2`. */
export async function buildVxlanOverlay(prefix: string, a: OverlayNode, b: OverlayNode): Promise<Overlay> {
  const nodes = [a, b];
  const mtu = Math.min(a.underlayMtu, b.underlayMtu) - VXLAN_OVERHEAD;
  const macs = ['0a:58:0a:f4:01:00', '0a:58:0a:f4:02:00']; // 10.244.N.0 in the MAC, as flannel's VTEPs
  const podNs = nodes.map((_, i) => `${prefix}-ovl${i + 1}`);
  const vtep = 'tpvxlan0';
  const hostVeth = 'tpvxpod0';
  const overlay: Overlay = {
    pods: nodes.map((_, i) => ({ ns: podNs[i], address: `10.244.${i + 1}.2` })),
    mtu,
    remove: async () => {
      for (const ns of podNs) await run('ip', ['netns', 'del', ns], { allowFailure: true });
      for (const n of nodes) {
        await run('ip', ['-n', n.ns, 'link', 'del', vtep], { allowFailure: true });
        await run('ip', ['-n', n.ns, 'link', 'del', hostVeth], { allowFailure: true });
      }
    },
  };
  try {
    for (let i = 0; i < 2; i++) {
      const n = nodes[i];
      const peer = nodes[1 - i];
      const subnet = `10.244.${i + 1}`;
      const peerSubnet = `10.244.${2 - i}`;
      await run('ip', ['netns', 'add', podNs[i]]);
      await ipBatch(
        [
          `link add ${vtep} type vxlan id ${VNI} local ${n.underlayAddress} dstport 4789 nolearning`,
          `link set ${vtep} address ${macs[i]} mtu ${mtu} up`,
          `addr add ${subnet}.0/32 dev ${vtep}`,
          `link add ${hostVeth} mtu ${mtu} type veth peer name eth0 netns ${podNs[i]}`,
          `link set ${hostVeth} up`,
          `addr add ${subnet}.1/24 dev ${hostVeth}`,
          `route add ${peerSubnet}.0/24 via ${peerSubnet}.0 dev ${vtep} onlink`,
          `neigh replace ${peerSubnet}.0 lladdr ${macs[1 - i]} dev ${vtep} nud permanent`,
        ],
        n.ns,
      );
      await run('bridge', [
        '-n',
        n.ns,
        'fdb',
        'append',
        macs[1 - i],
        'dev',
        vtep,
        'dst',
        peer.underlayAddress,
      ]);
      await ipBatch(
        [
          'link set lo up',
          `link set eth0 mtu ${mtu} up`,
          `addr add ${subnet}.2/24 dev eth0`,
          `route add default via ${subnet}.1`,
        ],
        podNs[i],
      );
    }
    return overlay;
  } catch (err) {
    await overlay.remove();
    throw err;
  }
}
