// Node-level host setup, done once when the daemon starts (and again whenever the VPC CIDRs change):
// sysctls (ip_forward; rp_filter loose on the primary interface, aws-vpc-cni.md 5.6), the primary
// interface's MTU (the OS owns the rest of it), and — unless external SNAT is configured — the
// `fwmark <mark>/<mark> lookup main` rule at 1024 plus Tidepool's nftables table (snat.ts).
import type { HostExec } from './exec.js';
import { findLinkByMac, type FindLinkOptions } from './interface.js';
import { ensureRuleLines, listRules, removeRuleLines } from './rules.js';
import { renderSnatRemoval, renderSnatTable, type SnatConfig } from './snat.js';

export const CONNMARK_RULE_PRIORITY = 1024;

export interface NodeSetupOptions extends FindLinkOptions {
  /** The node's primary interface, from the cloud. */
  primaryMac: string;
  primaryAddress: string;
  vpcCidrs: string[];
  /** Host name of the primary link; empty = find it by `primaryMac`. */
  primaryInterface?: string;
  mtu: number;
  vethPrefix: string;
  externalSnat: boolean;
  excludeSnatCidrs: string[];
  randomizeSnat: SnatConfig['randomize'];
  connmark: number;
}

export interface NodeSetupResult {
  primaryLink: string;
}

export async function setupNode(exec: HostExec, o: NodeSetupOptions): Promise<NodeSetupResult> {
  const primaryLink = o.primaryInterface || (await findLinkByMac(exec, o.primaryMac, o));
  await exec.sysctl({
    'net/ipv4/ip_forward': '1',
    [`net/ipv4/conf/${primaryLink}/rp_filter`]: '2',
  });
  const rule = { priority: CONNMARK_RULE_PRIORITY, fwmark: { mark: o.connmark, mask: o.connmark } };
  const rules = await listRules(exec);
  const lines = [`link set dev ${primaryLink} mtu ${o.mtu}`];
  if (o.externalSnat) {
    // An external NAT device translates pod addresses: pods keep their address everywhere, so neither the
    // SNAT nor the connmark steering that makes it symmetric may remain from an earlier configuration.
    lines.push(...removeRuleLines(rules, rule));
    await exec.ipBatch(lines);
    await exec.nft(renderSnatRemoval());
  } else {
    lines.push(...ensureRuleLines(rules, { ...rule, table: 'main' }));
    await exec.ipBatch(lines);
    await exec.nft(
      renderSnatTable({
        primaryAddress: o.primaryAddress,
        vpcCidrs: o.vpcCidrs,
        excludeCidrs: o.excludeSnatCidrs,
        vethPrefix: o.vethPrefix,
        connmark: o.connmark,
        randomize: o.randomizeSnat,
      }),
    );
  }
  return { primaryLink };
}

/** Removes what setupNode added (rule 1024 and the nftables table); sysctls are left as they are. */
export async function teardownNode(exec: HostExec, o: Pick<NodeSetupOptions, 'connmark'>): Promise<void> {
  const rule = { priority: CONNMARK_RULE_PRIORITY, fwmark: { mark: o.connmark, mask: o.connmark } };
  await exec.ipBatch(removeRuleLines(await listRules(exec), rule));
  await exec.nft(renderSnatRemoval());
}
