// The fabric controller: makes the vpc namespace match what the cloud says. For every interface attached
// to a lab node it keeps a real veth between the node's namespace (named ethN, with the interface's MAC,
// left down for the daemon to configure, as a hot-plugged ENI) and the vpc namespace (named n<node>e<N>,
// its ifalias the interface id); for every address or /28 prefix the interface owns, a route to it
// through that veth and an entry in the source-check set. It keeps a model from the event source and
// converges the kernel to it after every change, reading back what is there, so it is idempotent and a
// restarted controller repairs whatever it missed.
import { writeFileSync, renameSync } from 'node:fs';
import { cidrAddresses, parseCidr, subnetGateway } from '../config/net.js';
import type { FabricEvent, InterfaceSnapshot } from './events.js';
import { must, runCommand } from './netns.js';
import { FABRIC_TABLE } from './topology.js';

export interface FabricNode {
  netns: string;
  /** 1 for node-1; names the vpc-side links n<index>e<device>. */
  index: number;
}

/** The fabric's programmed state, written after each convergence (for `lab status` and `lab pod add`). */
export interface FabricStatus {
  updatedAt: string;
  interfaces: (InterfaceSnapshot & { vpcLink: string; node: string })[];
}

const LINK_RE = /^n\d+e\d+$/;

export function vpcLinkName(node: FabricNode, deviceNumber: number): string {
  return `n${node.index}e${deviceNumber}`;
}

export class Fabric {
  private model = new Map<string, InterfaceSnapshot>();

  constructor(
    private readonly vpcNs: string,
    /** Maps an instance to its node; undefined for instances that are not lab nodes (ignored). */
    private readonly nodeFor: (instanceId: string) => FabricNode | undefined,
    private readonly statusFile?: string,
    private readonly mtu = 9001,
  ) {}

  /** Replaces the model with a snapshot of the cloud and converges. */
  async resync(interfaces: InterfaceSnapshot[]): Promise<void> {
    this.setModel(interfaces);
    await this.converge();
  }

  /** Applies one event to the model and converges. */
  async apply(e: FabricEvent): Promise<void> {
    this.update(e);
    await this.converge();
  }

  setModel(interfaces: InterfaceSnapshot[]): void {
    this.model = new Map(interfaces.map((i) => [i.interfaceId, { ...i }]));
  }

  /** Applies one event to the model only (the controller converges once for a burst of events). */
  update(e: FabricEvent): void {
    if (e.type === 'instance-terminated') {
      for (const [id, i] of this.model) if (i.instanceId === e.instanceId) this.model.delete(id);
      return;
    }
    const cur = this.model.get(e.interfaceId);
    switch (e.type) {
      case 'interface-attached': {
        const { type: _t, ...att } = e;
        this.model.set(e.interfaceId, {
          ...att,
          addresses: cur?.addresses ?? [],
          prefixes: cur?.prefixes ?? [],
        });
        break;
      }
      case 'interface-detached':
        this.model.delete(e.interfaceId);
        break;
      case 'addresses-assigned':
        if (!cur) return;
        cur.addresses = [...new Set([...cur.addresses, ...e.addresses])];
        cur.prefixes = [...new Set([...cur.prefixes, ...e.prefixes])];
        break;
      case 'addresses-released':
        if (!cur) return;
        cur.addresses = cur.addresses.filter((a) => !e.addresses.includes(a));
        cur.prefixes = cur.prefixes.filter((p) => !e.prefixes.includes(p));
        break;
    }
  }

  private desired(): (InterfaceSnapshot & { node: FabricNode; vpcLink: string })[] {
    const out = [];
    for (const i of this.model.values()) {
      const node = this.nodeFor(i.instanceId);
      if (node) out.push({ ...i, node, vpcLink: vpcLinkName(node, i.deviceNumber) });
    }
    return out;
  }

  /** Makes links, routes, neighbours and the source-check set match the model. */
  async converge(): Promise<void> {
    const want = this.desired();
    const ip = (args: string[]) => ['ip', '-n', this.vpcNs, ...args];

    // Links: delete fabric links of interfaces that are gone (or now another interface), create missing.
    const links = JSON.parse(await must(ip(['-json', 'link', 'show']))) as {
      ifname: string;
      ifalias?: string;
    }[];
    const have = links.filter((l) => LINK_RE.test(l.ifname));
    const stale = have.filter(
      (l) => !want.some((w) => w.vpcLink === l.ifname && w.interfaceId === l.ifalias),
    );
    const kept = new Set(have.filter((l) => !stale.includes(l)).map((l) => l.ifname));
    const lines = stale.map((l) => `link del ${l.ifname}`);
    for (const w of want.filter((w) => !kept.has(w.vpcLink))) {
      lines.push(
        `link add ${w.vpcLink} mtu ${this.mtu} type veth peer name eth${w.deviceNumber} mtu ${this.mtu} address ${w.mac} netns ${w.node.netns}`,
        `link set ${w.vpcLink} alias ${w.interfaceId}`,
        // Proxy ARP replies are otherwise delayed up to 0.8 s (proxy_delay); a VPC answers at once.
        `ntable change name arp_cache dev ${w.vpcLink} proxy_delay 0`,
        `link set ${w.vpcLink} up`,
      );
    }
    // Subnet gateways answer on every fabric link (local on lo; ARP replies for local addresses).
    for (const gw of new Set(want.map((w) => subnetGateway(w.subnetCidr))))
      lines.push(`addr replace ${gw}/32 dev lo`);
    await must(ip(['-batch', '-']), lines.join('\n') + '\n');

    // Routes and permanent neighbours: everything an interface owns goes to its MAC.
    const routeLines: string[] = [];
    const wantRoutes = new Set<string>();
    for (const w of want) {
      routeLines.push(
        `neigh replace ${w.primaryAddress} lladdr ${w.mac} dev ${w.vpcLink} nud permanent`,
        `route replace ${w.primaryAddress}/32 dev ${w.vpcLink} scope link`,
      );
      wantRoutes.add(`${w.primaryAddress}/32`);
      for (const a of w.addresses) {
        routeLines.push(`route replace ${a}/32 via ${w.primaryAddress} dev ${w.vpcLink} onlink`);
        wantRoutes.add(`${a}/32`);
      }
      for (const p of w.prefixes) {
        const c = parseCidr(p);
        routeLines.push(`route replace ${p} via ${w.primaryAddress} dev ${w.vpcLink} onlink`);
        wantRoutes.add(`${p.split('/')[0]}/${c.bits}`);
      }
    }
    const routes = JSON.parse(await must(ip(['-json', 'route', 'show', 'table', 'main']))) as {
      dst: string;
      dev?: string;
    }[];
    for (const r of routes) {
      if (!r.dev || !LINK_RE.test(r.dev)) continue;
      const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
      if (!wantRoutes.has(dst)) routeLines.push(`route del ${dst} dev ${r.dev}`);
    }
    if (routeLines.length) await must(ip(['-batch', '-']), routeLines.join('\n') + '\n');

    await this.convergeOwnedSet(want);
    this.writeStatus(want);
  }

  private async convergeOwnedSet(want: (InterfaceSnapshot & { vpcLink: string })[]): Promise<void> {
    const key = (link: string, addr: string) => `"${link}" . ${addr}`;
    const wanted = new Set<string>();
    for (const w of want) {
      wanted.add(key(w.vpcLink, w.primaryAddress));
      for (const a of w.addresses) wanted.add(key(w.vpcLink, a));
      for (const p of w.prefixes) for (const a of cidrAddresses(p)) wanted.add(key(w.vpcLink, a));
    }
    const current = await this.ownedElements();
    const add = [...wanted].filter((k) => !current.has(k));
    const del = [...current].filter((k) => !wanted.has(k));
    if (!add.length && !del.length) return;
    let script = '';
    if (del.length) script += `delete element ip ${FABRIC_TABLE} owned { ${del.join(', ')} }\n`;
    if (add.length) script += `add element ip ${FABRIC_TABLE} owned { ${add.join(', ')} }\n`;
    await must(['ip', 'netns', 'exec', this.vpcNs, 'nft', '-f', '-'], script);
  }

  /** Elements of the source-check set, as `"link" . addr` strings. */
  async ownedElements(): Promise<Set<string>> {
    const r = await runCommand([
      'ip',
      'netns',
      'exec',
      this.vpcNs,
      'nft',
      '-j',
      'list',
      'set',
      'ip',
      FABRIC_TABLE,
      'owned',
    ]);
    if (r.code !== 0) throw new Error(`cannot read the fabric's source-check set: ${r.stderr.trim()}`);
    const out = new Set<string>();
    for (const item of JSON.parse(r.stdout).nftables as any[]) {
      for (const el of item.set?.elem ?? []) {
        const [link, addr] = el.concat as [string, string];
        out.add(`"${link}" . ${addr}`);
      }
    }
    return out;
  }

  private writeStatus(want: (InterfaceSnapshot & { node: FabricNode; vpcLink: string })[]): void {
    if (!this.statusFile) return;
    const status: FabricStatus = {
      updatedAt: new Date().toISOString(),
      interfaces: want.map(({ node, ...w }) => ({ ...w, node: node.netns })),
    };
    const tmp = `${this.statusFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(status, null, 2) + '\n');
    renameSync(tmp, this.statusFile);
  }
}
