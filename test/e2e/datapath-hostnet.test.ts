// The daemon's side of the datapath (ipamd/hostnet) in real namespaces: a node namespace whose eth0 and
// eth1 are veths into a peer namespace, configured by HostNetwork exactly as the daemon does, then read
// back with `ip -json` and `nft -j`. Runs as root; touches only namespaces it creates.
import {
  HostNetwork,
  LinkNotFoundError,
  renderSnatTable,
  snatExemptCidrs,
} from '../../ipamd/hostnet/index.js';
import { ipJson, Namespaces, sh, testPrefix } from '../helpers/lab.js';

const PRIMARY_MAC = '02:7a:00:00:00:10';
const ENI_MAC = '02:7a:00:00:00:11';
const eni = { mac: ENI_MAC, deviceNumber: 1, subnetCidr: '10.0.16.0/20', primaryAddress: '10.0.16.20' };
const network = {
  eniMtu: 9001,
  vethPrefix: 'eni',
  externalSnat: false,
  excludeSnatCidrs: ['192.168.0.0/16'],
  randomizeSnat: 'prng' as const,
  connmark: 0x80,
  primaryInterface: '',
};
const node = { primaryMac: PRIMARY_MAC, primaryAddress: '10.0.0.10', vpcCidrs: ['10.0.0.0/16'] };

const nss = new Namespaces(testPrefix());
let ns = '';

async function nftTable(netns: string): Promise<any[] | null> {
  const r = await sh(['ip', 'netns', 'exec', netns, 'nft', '-j', 'list', 'ruleset']);
  const items = JSON.parse(r).nftables as any[];
  const table = items.find((i) => i.table?.name === 'tidepool');
  return table ? items.filter((i) => (i.set ?? i.chain ?? i.rule)?.table === 'tidepool') : null;
}

beforeAll(async () => {
  ns = await nss.add('node');
  const peer = await nss.add('fabric');
  await sh([
    'ip',
    '-n',
    peer,
    'link',
    'add',
    'p0',
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    ns,
    'address',
    PRIMARY_MAC,
  ]);
  await sh([
    'ip',
    '-n',
    peer,
    'link',
    'add',
    'p1',
    'type',
    'veth',
    'peer',
    'name',
    'eth1',
    'netns',
    ns,
    'address',
    ENI_MAC,
  ]);
  // The OS configures the primary interface (DHCP on EC2).
  await sh(['ip', '-n', ns, 'addr', 'add', '10.0.0.10/20', 'dev', 'eth0']);
  await sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
});

afterAll(() => nss.cleanup());

describe('ipamd/hostnet in a node namespace', () => {
  const host = () => new HostNetwork({ node, network, netns: ns, findLink: { attempts: 2, intervalMs: 50 } });

  test('setupNode: sysctls, primary MTU, the connmark rule at 1024 and one SNAT table', async () => {
    const res = await host().setupNode();
    expect(res.primaryLink).toBe('eth0');
    const sysctl = await sh([
      'ip',
      'netns',
      'exec',
      ns,
      'sysctl',
      '-n',
      'net.ipv4.ip_forward',
      'net.ipv4.conf.eth0.rp_filter',
    ]);
    expect(sysctl.trim().split('\n')).toEqual(['1', '2']);
    const [eth0] = await ipJson(ns, ['link', 'show', 'eth0']);
    expect(eth0.mtu).toBe(9001);
    const rules = await ipJson(ns, ['rule', 'show']);
    expect(rules.filter((r) => r.priority === 1024)).toEqual([
      { priority: 1024, src: 'all', fwmark: '0x80', fwmask: '0x80', table: 'main' },
    ]);
    const t = (await nftTable(ns))!;
    const set = t.find((i) => i.set?.name === 'snat_exempt').set;
    expect(set.elem.map((e: any) => `${e.prefix.addr}/${e.prefix.len}`)).toEqual([
      '10.0.0.0/16',
      '192.168.0.0/16',
    ]);
    const text = await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'tidepool']);
    expect(text).toContain('snat to 10.0.0.10 fully-random');
    expect(text).toMatch(
      /iifname "eni\*" ct state new ip daddr != @snat_exempt fib daddr type != local ct mark set ct mark \| 0x0*80/,
    );
    expect(text).toMatch(/iifname "eni\*" ct mark & 0x0*80 == 0x0*80 meta mark set meta mark \| 0x0*80/);
  });

  test('SNAT never touches local destinations: with a KUBE-FIREWALL-style drop rule, 127.0.0.1 and the node address answer', async () => {
    await host().setupNode();
    // The kubelet's rule (iptables KUBE-FIREWALL, here in nftables): a packet to 127/8 from a source
    // outside 127/8 that was not DNATed is dropped, on the way out and on the way in.
    await sh(
      ['ip', 'netns', 'exec', ns, 'nft', '-f', '-'],
      `table ip kubefw {
  chain output { type filter hook output priority 0; ip saddr != 127.0.0.0/8 ip daddr 127.0.0.0/8 ct status != dnat drop; }
  chain input { type filter hook input priority 0; ip saddr != 127.0.0.0/8 ip daddr 127.0.0.0/8 ct status != dnat drop; }
}
`,
    );
    try {
      for (const addr of ['127.0.0.1', '10.0.0.10']) {
        const got = await sh([
          'ip',
          'netns',
          'exec',
          ns,
          'sh',
          '-c',
          `timeout 5 socat -T3 TCP-LISTEN:18080,bind=${addr},reuseaddr SYSTEM:'echo answered' & sleep 0.3; ` +
            `timeout 5 socat -T3 - TCP:${addr}:18080 </dev/null; wait`,
        ]);
        expect({ addr, got: got.trim() }).toEqual({ addr, got: 'answered' });
      }
    } finally {
      await sh(['ip', 'netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'kubefw']);
    }
  });

  test('setupInterface: link by MAC, MTU, address, table 2, rule 32765, no connected route in main', async () => {
    expect(await host().setupInterface(eni)).toBe('eth1');
    const [eth1] = await ipJson(ns, ['addr', 'show', 'eth1']);
    expect(eth1.mtu).toBe(9001);
    expect(eth1.flags).toContain('UP');
    expect(
      eth1.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`),
    ).toEqual(['10.0.16.20/20']);
    const table2 = await ipJson(ns, ['route', 'show', 'table', '2']);
    expect(table2).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: '10.0.16.1', dev: 'eth1' }),
        expect.objectContaining({ dst: '10.0.16.1', dev: 'eth1', scope: 'link' }),
      ]),
    );
    expect(table2).toHaveLength(2);
    const rules = await ipJson(ns, ['rule', 'show']);
    expect(rules.filter((r) => r.priority === 32765)).toEqual([
      { priority: 32765, src: '10.0.16.20', table: '2' },
    ]);
    const main = await ipJson(ns, ['route', 'show', 'table', 'main', 'dev', 'eth1']);
    expect(main).toEqual([]);
  });

  test('re-running converges: same rules, routes and nftables table, no duplicates', async () => {
    const before = {
      rules: await ipJson(ns, ['rule', 'show']),
      routes: await ipJson(ns, ['route', 'show', 'table', 'all']),
      nft: await nftTable(ns),
    };
    const h = host();
    await h.setupNode();
    await h.setupInterface(eni);
    await h.setupNode();
    await h.setupInterface(eni);
    expect(await ipJson(ns, ['rule', 'show'])).toEqual(before.rules);
    expect(await ipJson(ns, ['route', 'show', 'table', 'all'])).toEqual(before.routes);
    // Same content (handles are renumbered when the table is replaced, so compare without them).
    const strip = (x: unknown) => JSON.parse(JSON.stringify(x, (k, v) => (k === 'handle' ? undefined : v)));
    expect(strip(await nftTable(ns))).toEqual(strip(before.nft));
  });

  test('the table is replaced atomically: a bad rule set leaves the previous one whole', async () => {
    const before = await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'tidepool']);
    const bad = new HostNetwork({ node: { ...node, primaryAddress: '10.0.0.999' }, network, netns: ns });
    await expect(bad.setupNode()).rejects.toThrow(/nft/);
    expect(await sh(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'tidepool'])).toBe(before);
  });

  test('an interface that comes back with another primary address gets its rule moved', async () => {
    const moved = { ...eni, primaryAddress: '10.0.16.99' };
    await host().setupInterface(moved);
    const rules = await ipJson(ns, ['rule', 'show']);
    expect(rules.filter((r) => r.priority === 32765)).toEqual([
      { priority: 32765, src: '10.0.16.99', table: '2' },
    ]);
    await host().teardownInterface(moved);
    await host().setupInterface(eni);
  });

  test('external SNAT: no SNAT table and no connmark rule', async () => {
    const ext = new HostNetwork({ node, network: { ...network, externalSnat: true }, netns: ns });
    await ext.setupNode();
    expect(await nftTable(ns)).toBeNull();
    expect((await ipJson(ns, ['rule', 'show'])).filter((r) => r.priority === 1024)).toEqual([]);
    await host().setupNode(); // back to internal SNAT
    expect(await nftTable(ns)).not.toBeNull();
  });

  test('teardownInterface and teardownNode remove what setup added, and tolerate a second call', async () => {
    const h = host();
    await h.teardownInterface(eni);
    await h.teardownInterface(eni);
    expect((await ipJson(ns, ['rule', 'show'])).filter((r) => r.priority === 32765)).toEqual([]);
    expect(await ipJson(ns, ['route', 'show', 'table', '2'])).toEqual([]);
    const [eth1] = await ipJson(ns, ['addr', 'show', 'eth1']);
    expect(eth1.addr_info.filter((a: any) => a.family === 'inet')).toEqual([]);
    await h.teardownNode();
    await h.teardownNode();
    expect(await nftTable(ns)).toBeNull();
    expect((await ipJson(ns, ['rule', 'show'])).filter((r) => r.priority === 1024)).toEqual([]);
  });

  test('an interface whose link never appears is a LinkNotFoundError naming the MAC', async () => {
    const err = await host()
      .setupInterface({ ...eni, mac: '02:7a:00:00:00:ee' })
      .catch((e) => e);
    expect(err).toBeInstanceOf(LinkNotFoundError);
    expect(err.message).toContain('02:7a:00:00:00:ee');
  });
});

describe('SNAT table rendering', () => {
  test('nested and duplicate exemptions collapse (nftables rejects overlapping interval elements)', () => {
    expect(snatExemptCidrs(['10.0.0.0/16', '10.0.5.0/24', '10.0.0.0/16', '172.16.1.7/12'])).toEqual([
      '10.0.0.0/16',
      '172.16.0.0/12',
    ]);
  });

  test('randomisation follows AWS_VPC_K8S_CNI_RANDOMIZESNAT and the mark follows the connmark setting', () => {
    const base = {
      primaryAddress: '10.0.0.10',
      vpcCidrs: ['10.0.0.0/16'],
      excludeCidrs: [],
      vethPrefix: 'tp',
      connmark: 0x4000,
    };
    expect(renderSnatTable({ ...base, randomize: 'prng' })).toContain('snat ip to 10.0.0.10 fully-random');
    expect(renderSnatTable({ ...base, randomize: 'hashrandom' })).toMatch(/snat ip to 10\.0\.0\.10 random\n/);
    expect(renderSnatTable({ ...base, randomize: 'none' })).toMatch(/snat ip to 10\.0\.0\.10\n/);
    expect(renderSnatTable({ ...base, randomize: 'none' })).toContain(
      'iifname "tp*" ct mark and 0x4000 == 0x4000',
    );
  });
});
