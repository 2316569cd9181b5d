/**
 * Host network setup of the daemon (the node's side of the datapath, ARCHITECTURE section 3), called by
 * ipamd/main.ts when settings.network.manageHostNetwork is true. Everything happens in the network
 * namespace the daemon runs in (tests run the daemon inside a node namespace).
 *
 * Usage by the daemon:
 *   const host = new HostNetwork({ node: await provider.describeNode(), network: settings.network });
 *   await host.setupNode();                    // once at start: sysctls, primary MTU, SNAT + connmark
 *   await host.setupInterface(cloudInterface); // for each attached interface with deviceNumber > 0,
 *                                              // at start and whenever one is attached (finds the link
 *                                              // by MAC, waiting up to ~15 s for it to appear)
 *   await host.teardownInterface(cloudInterface); // before/after detaching one
 *   await host.setVpcCidrs(cidrs);             // when the VPC's CIDRs change (re-applies the table)
 * All methods are idempotent: calling them again converges. Failures throw HostNetError (with the
 * command and its stderr); LinkNotFoundError when an interface's link never appears.
 */
import type { Settings } from '../../config/settings.js';
import { HostExec } from './exec.js';
import { setupInterface, teardownInterface, type FindLinkOptions, type HostInterface } from './interface.js';
import { setupNode, teardownNode, type NodeSetupResult } from './node.js';

export { HostExec, HostNetError } from './exec.js';
export { LinkNotFoundError, routeTableFor, findLinkByMac, type HostInterface } from './interface.js';
export { renderSnatTable, snatExemptCidrs, SNAT_TABLE } from './snat.js';
export { CONNMARK_RULE_PRIORITY } from './node.js';
export { ENI_RULE_PRIORITY } from './interface.js';

export interface HostNetworkOptions {
  /** The node as the cloud describes it (a NodeInfo has these fields). */
  node: { primaryMac: string; primaryAddress: string; vpcCidrs: string[] };
  network: Pick<
    Settings['network'],
    | 'eniMtu'
    | 'vethPrefix'
    | 'externalSnat'
    | 'excludeSnatCidrs'
    | 'randomizeSnat'
    | 'connmark'
    | 'primaryInterface'
  >;
  /** Work inside this named network namespace instead of the current one (tests, tools). */
  netns?: string;
  /** How long to wait for an interface's link to appear. */
  findLink?: FindLinkOptions;
}

export class HostNetwork {
  private readonly exec: HostExec;
  private vpcCidrs: string[];
  primaryLink?: string;

  constructor(private readonly opts: HostNetworkOptions) {
    this.exec = new HostExec({ netns: opts.netns });
    this.vpcCidrs = [...opts.node.vpcCidrs];
  }

  async setupNode(): Promise<NodeSetupResult> {
    const n = this.opts.network;
    const res = await setupNode(this.exec, {
      ...this.opts.findLink,
      primaryMac: this.opts.node.primaryMac,
      primaryAddress: this.opts.node.primaryAddress,
      vpcCidrs: this.vpcCidrs,
      primaryInterface: n.primaryInterface,
      mtu: n.eniMtu,
      vethPrefix: n.vethPrefix,
      externalSnat: n.externalSnat,
      excludeSnatCidrs: n.excludeSnatCidrs,
      randomizeSnat: n.randomizeSnat,
      connmark: n.connmark,
    });
    this.primaryLink = res.primaryLink;
    return res;
  }

  /** Re-applies node setup with new VPC CIDRs (the SNAT exemptions), in one nftables transaction. */
  async setVpcCidrs(cidrs: string[]): Promise<void> {
    this.vpcCidrs = [...cidrs];
    await this.setupNode();
  }

  /** Configures a secondary interface (device number > 0); returns its link name. */
  setupInterface(iface: HostInterface): Promise<string> {
    return setupInterface(this.exec, iface, { ...this.opts.findLink, mtu: this.opts.network.eniMtu });
  }

  teardownInterface(iface: HostInterface): Promise<void> {
    return teardownInterface(this.exec, iface);
  }

  /** Removes the node-level rule and nftables table (on uninstall; a restart keeps them). */
  teardownNode(): Promise<void> {
    return teardownNode(this.exec, { connmark: this.opts.network.connmark });
  }
}
