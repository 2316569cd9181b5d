// The lab's fixed topology: the "vpc" namespace (the cloud fabric: routes each VPC address to the veth of
// the interface that owns it, source/destination check, subnet gateways, proxy ARP as the VPC router
// answers ARP for the subnet) and the "internet" namespace beyond a NAT-less edge. Addresses are
// documentation ranges only (RFC 5737): the edge link is 198.51.100.0/24 and the internet's hosts are
// 203.0.113.0/24. The internet has routes back only to the nodes' primary addresses (added per node), so
// a packet that leaves the VPC without SNAT gets no reply, as behind an internet gateway.
import { must } from './netns.js';

export const EDGE_VPC_LINK = 'edge0';
export const EDGE_INTERNET_LINK = 'uplink0';
export const EDGE_VPC_ADDRESS = '198.51.100.1';
export const EDGE_INTERNET_ADDRESS = '198.51.100.2';
export const EDGE_PREFIXLEN = 24;
export const INTERNET_HOSTS = '203.0.113.0/24';
/** An internet host the lab serves on (whoami over TCP and UDP, see up.ts). */
export const INTERNET_SERVER = '203.0.113.10';
export const WHOAMI_PORT = 8080;
/**
 * socat's right-hand side of a whoami server: answers with the peer's address. It reads the request to
 * the end (`cat`), or socat could write the request into an exited `echo` and die of EPIPE before the
 * reply left.
 */
export const WHOAMI_SYSTEM = 'SYSTEM:echo $SOCAT_PEERADDR; cat >/dev/null';

/** socat arguments of a whoami server on `bind`:`port` (TCP, or UDP whose per-peer children end after 1 s). */
export function whoamiArgs(proto: 'tcp' | 'udp', bind: string, port = WHOAMI_PORT): string[] {
  return proto === 'tcp'
    ? ['-T5', `TCP-LISTEN:${port},bind=${bind},reuseaddr,fork`, WHOAMI_SYSTEM]
    : ['-T1', `UDP-RECVFROM:${port},bind=${bind},fork`, WHOAMI_SYSTEM];
}
/** The fabric's nftables table in the vpc namespace. */
export const FABRIC_TABLE = 'fabric';

/**
 * The vpc namespace's nftables: a set of (ingress veth, source address) pairs the fabric allows, one
 * rule that drops forwarded packets not in it (counted, and remembered in a dynamic set so a test can
 * see which interface sent which forged source), except from the internet edge.
 */
export function fabricNftScript(): string {
  return `table ip ${FABRIC_TABLE}
delete table ip ${FABRIC_TABLE}
table ip ${FABRIC_TABLE} {
\tcounter srcdst_drops {
\t}
\tset owned {
\t\ttype ifname . ipv4_addr
\t}
\tset dropped {
\t\ttype ifname . ipv4_addr
\t\tsize 4096
\t\tflags dynamic,timeout
\t\ttimeout 10m
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname "${EDGE_VPC_LINK}" accept
\t\tiifname . ip saddr @owned accept
\t\tupdate @dropped { iifname . ip saddr }
\t\tcounter name srcdst_drops drop
\t}
}
`;
}

/** Builds the vpc namespace's fixed part (the namespace must exist). */
export async function setupVpcNamespace(
  vpcNs: string,
  internetNs: string,
  vpcCidrs: string[],
): Promise<void> {
  await must([
    'ip',
    'netns',
    'exec',
    vpcNs,
    'sysctl',
    '-q',
    '-w',
    'net.ipv4.ip_forward=1',
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
    // The VPC router answers ARP for any address it routes elsewhere (a node ARPs for a peer in its
    // subnet); every interface veth inherits this from `default`.
    'net.ipv4.conf.default.proxy_arp=1',
  ]);
  await must(['ip', 'netns', 'exec', vpcNs, 'nft', '-f', '-'], fabricNftScript());
  await must(
    ['ip', '-n', vpcNs, '-batch', '-'],
    [
      `link add ${EDGE_VPC_LINK} type veth peer name ${EDGE_INTERNET_LINK} netns ${internetNs}`,
      `addr add ${EDGE_VPC_ADDRESS}/${EDGE_PREFIXLEN} dev ${EDGE_VPC_LINK}`,
      `link set ${EDGE_VPC_LINK} up`,
      `route add default via ${EDGE_INTERNET_ADDRESS} dev ${EDGE_VPC_LINK}`,
      // VPC addresses no interface owns go nowhere (not to the internet).
      ...vpcCidrs.map((c) => `route add unreachable ${c}`),
    ].join('\n') + '\n',
  );
  await must(
    ['ip', '-n', internetNs, '-batch', '-'],
    [
      `addr add ${EDGE_INTERNET_ADDRESS}/${EDGE_PREFIXLEN} dev ${EDGE_INTERNET_LINK}`,
      `link set ${EDGE_INTERNET_LINK} up`,
      // On loopback, the whole /24 is local: every 203.0.113.x is an internet host.
      `addr add ${INTERNET_HOSTS} dev lo`,
    ].join('\n') + '\n',
  );
}

/** Lets the internet reach a node's primary address (what SNAT translates pod traffic to). */
export async function addInternetReturnRoute(internetNs: string, nodeAddress: string): Promise<void> {
  await must(['ip', '-n', internetNs, 'route', 'replace', `${nodeAddress}/32`, 'via', EDGE_VPC_ADDRESS]);
}

/** The "OS" of a node: its primary interface's address and default route (DHCP's job on EC2). */
export async function configureNodePrimary(
  nodeNs: string,
  link: string,
  address: string,
  prefixLen: number,
  gateway: string,
): Promise<void> {
  await must(['ip', 'netns', 'exec', nodeNs, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=0']);
  await must(
    ['ip', '-n', nodeNs, '-batch', '-'],
    [
      `addr replace ${address}/${prefixLen} dev ${link}`,
      `link set ${link} up`,
      `route replace default via ${gateway} dev ${link}`,
    ].join('\n') + '\n',
  );
}
