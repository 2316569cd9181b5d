// SNAT and connmark for pod traffic that leaves the VPC, as ONE nftables table owned by Tidepool
// (`table ip tidepool`), replaced as a whole in one `nft -f` transaction: the kernel applies all of it or
// none, so no packet ever sees half a rule set, and re-applying converges (idempotent).
// Design of the AWS VPC CNI's nftables backend (reference aws-vpc-cni.md 5.5):
// - postrouting: traffic to a local destination (the node's own addresses, 127/8 over lo: the kubelet's
//   healthz, containerd's streaming server) is never touched — SNAT would turn 127.0.0.1 → 127.0.0.1 into
//   <primary> → 127.0.0.1, which the kubelet's KUBE-FIREWALL rule drops (the incumbent's
//   `-m addrtype ! --dst-type LOCAL`); traffic to the VPC CIDRs or an exclusion CIDR keeps the pod's
//   address; anything else is SNATed to the node's primary address (fully-random per
//   AWS_VPC_K8S_CNI_RANDOMIZESNAT).
// - prerouting (after kube-proxy's DNAT at -100, hence -90): a new connection from a pod veth to a
//   non-VPC destination gets the connmark bit; every packet of a marked connection from a pod veth gets
//   the bit as fwmark, which hits `fwmark <mark>/<mark> lookup main` (prio 1024) before the pod's
//   `from podIP lookup <table>` (1536), so off-VPC traffic of a pod on a secondary interface leaves
//   through the primary interface, where SNAT to the primary address is valid.
import { parseCidr, intToIp } from '../../config/net.js';

export const SNAT_TABLE = 'tidepool';

export interface SnatConfig {
  /** The node's primary address: the SNAT source. */
  primaryAddress: string;
  vpcCidrs: string[];
  /** AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: destinations reached with the pod's own address. */
  excludeCidrs: string[];
  /** Host veth prefix: pod traffic enters from `<prefix>*`. */
  vethPrefix: string;
  /** The connmark/fwmark bit (AWS_VPC_K8S_CNI_CONNMARK, default 0x80). */
  connmark: number;
  /** prng → fully-random, hashrandom → random, none → neither. */
  randomize: 'prng' | 'hashrandom' | 'none';
}

/**
 * The CIDRs exempt from SNAT, normalised (host bits cleared), deduplicated, and with any CIDR nested in
 * another dropped: nftables rejects overlapping elements in an interval set.
 */
export function snatExemptCidrs(cidrs: string[]): string[] {
  const parsed = cidrs.map((c) => parseCidr(c)).sort((a, b) => a.bits - b.bits || a.base - b.base);
  const kept: typeof parsed = [];
  for (const c of parsed) {
    const nested = kept.some((k) => c.base >= k.base && c.base + c.size <= k.base + k.size);
    if (!nested) kept.push(c);
  }
  return kept.sort((a, b) => a.base - b.base).map((c) => `${intToIp(c.base)}/${c.bits}`);
}

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16);
}

/** The nftables script that replaces Tidepool's table (create-if-absent, delete, define: one transaction). */
export function renderSnatTable(c: SnatConfig): string {
  const exempt = snatExemptCidrs([...c.vpcCidrs, ...c.excludeCidrs]);
  const mark = hex(c.connmark);
  const random = c.randomize === 'prng' ? ' fully-random' : c.randomize === 'hashrandom' ? ' random' : '';
  const veth = `"${c.vethPrefix}*"`;
  const elements = exempt.length ? `\n\t\telements = { ${exempt.join(', ')} }` : '';
  return `table ip ${SNAT_TABLE}
delete table ip ${SNAT_TABLE}
table ip ${SNAT_TABLE} {
\tset snat_exempt {
\t\ttype ipv4_addr
\t\tflags interval${elements}
\t}
\tchain prerouting {
\t\ttype filter hook prerouting priority -90; policy accept;
\t\tiifname ${veth} ct state new ip daddr != @snat_exempt fib daddr type != local ct mark set ct mark or ${mark}
\t\tiifname ${veth} ct mark and ${mark} == ${mark} meta mark set meta mark or ${mark}
\t}
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "lo" return
\t\tfib daddr type local return
\t\tip daddr @snat_exempt return
\t\toifname "vlan*" return
\t\tsnat ip to ${c.primaryAddress}${random}
\t}
}
`;
}

/** Removes Tidepool's table if present (external SNAT, teardown), in one transaction. */
export function renderSnatRemoval(): string {
  return `table ip ${SNAT_TABLE}\ndelete table ip ${SNAT_TABLE}\n`;
}
