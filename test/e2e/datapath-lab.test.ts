// The datapath proven by traffic through the one-machine lab (issue 3, Show "Datapath"): two nodes on the
// sim (t3.nano: 2 interfaces × 1 pod address, so node-1's second pod lives on its secondary interface
// eth1), pods wired by the real plugin, the daemon's host setup, and a fabric that drops what a VPC
// drops. Runs as root; everything lives in namespaces with this file's own prefix; `lab down` after.
import { readFileSync } from 'node:fs';
import { whoamiArgs } from '../../lab/topology.js';
import { inNs, ipJson, Lab, run, testPrefix } from '../helpers/lab.js';

const lab = new Lab(testPrefix());
const INTERNET = '203.0.113.10';
const WHOAMI = 8080;

interface Pod {
  name: string;
  node: string;
  address: string;
  netns: string;
  device: number;
}
const pods: Record<string, Pod> = {};
let nodeNs: Record<string, string> = {};
let nodeAddr: Record<string, string> = {};
let vpcNs = '';

function fabricStatus(): any {
  return JSON.parse(readFileSync(`${lab.stateDir}/fabric.json`, 'utf8'));
}

function deviceOf(address: string): number {
  const i = fabricStatus().interfaces.find((x: any) => x.addresses.includes(address));
  if (!i) throw new Error(`the fabric does not route ${address}`);
  return i.deviceNumber;
}

async function addPod(node: string, name: string): Promise<Pod> {
  const out = await lab.must(['pod', 'add', node, name]);
  const [, address] = out.trim().split(/\s+/);
  const st = await lab.status();
  const netns = st.pods.find((p: any) => p.name === name).netns;
  pods[name] = { name, node, address, netns, device: deviceOf(address) };
  return pods[name];
}

/** A TCP and a UDP whoami (socat answers with the peer's address) inside a pod. */
async function serveWhoami(ns: string): Promise<void> {
  for (const proto of ['tcp', 'udp'] as const) {
    const args = whoamiArgs(proto, '0.0.0.0')
      .map((a) => `'${a}'`)
      .join(' ');
    await run(['sh', '-c', `ip netns exec ${ns} socat ${args} >/dev/null 2>&1 &`]);
  }
  for (let i = 0; i < 50; i++) {
    if ((await inNs(ns, ['ss', '-ltn'])).stdout.includes(`:${WHOAMI}`)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`whoami did not start in ${ns}`);
}

async function whoami(
  fromNs: string,
  to: string,
  opts: { udp?: boolean; bind?: string } = {},
): Promise<string> {
  const bind = opts.bind ? `,bind=${opts.bind}` : '';
  const target = opts.udp ? `UDP:${to}:${WHOAMI}${bind}` : `TCP:${to}:${WHOAMI},connect-timeout=2${bind}`;
  const r = await run(['ip', 'netns', 'exec', fromNs, 'socat', '-T3', '-t3', '-', target], {
    input: 'hello\n',
    timeoutMs: 10_000,
  });
  return r.stdout.trim();
}

async function ping(fromNs: string, to: string): Promise<boolean> {
  return (await inNs(fromNs, ['ping', '-c', '1', '-W', '2', to])).code === 0;
}

async function fabricDrops(): Promise<{ packets: number; dropped: string[] }> {
  const r = await inNs(vpcNs, ['nft', '-j', 'list', 'table', 'ip', 'fabric']);
  const items = JSON.parse(r.stdout).nftables as any[];
  const counter = items.find((i) => i.counter?.name === 'srcdst_drops').counter;
  const set = items.find((i) => i.set?.name === 'dropped').set;
  const dropped = (set.elem ?? []).map((e: any) => {
    const c = (e.elem?.val ?? e).concat as string[];
    return `${c[0]} ${c[1]}`;
  });
  return { packets: counter.packets, dropped };
}

beforeAll(async () => {
  await lab.must(['up', '--nodes', '2', '--instance-type', 't3.nano'], 180_000);
  const st = await lab.status();
  nodeNs = Object.fromEntries(st.nodes.map((n: any) => [n.name, n.netns]));
  nodeAddr = Object.fromEntries(st.nodes.map((n: any) => [n.name, n.primaryAddress]));
  vpcNs = `${lab.prefix}vpc`;
  await addPod('node-1', 'a1');
  await addPod('node-1', 'a2');
  await addPod('node-2', 'b1');
  for (const p of Object.values(pods)) await serveWhoami(p.netns);
}, 300_000);

afterAll(async () => {
  const r = await lab.down();
  if (r.code !== 0) throw new Error(`lab down failed: ${r.stderr}`);
}, 120_000);

/** The pod of node-1 whose address is on the secondary interface, and the one on the primary. */
const secondary = () => [pods.a1, pods.a2].find((p) => p.device > 0)!;
const primary = () => [pods.a1, pods.a2].find((p) => p.device === 0)!;

describe('datapath through the lab', () => {
  test('node-1 holds one pod on its primary interface and one on eth1 (t3.nano: 1 address each)', () => {
    expect([pods.a1.device, pods.a2.device].sort()).toEqual([0, 1]);
    expect(pods.b1.device).toBe(0);
  });

  test('pod ↔ pod on one node', async () => {
    expect(await ping(primary().netns, secondary().address)).toBe(true);
    expect(await ping(secondary().netns, primary().address)).toBe(true);
  });

  test('pod ↔ pod across nodes from the secondary interface; the peer sees the pod’s own address', async () => {
    expect(await ping(secondary().netns, pods.b1.address)).toBe(true);
    expect(await ping(pods.b1.netns, secondary().address)).toBe(true);
    expect(await whoami(secondary().netns, pods.b1.address)).toBe(secondary().address);
    expect(await whoami(pods.b1.netns, primary().address)).toBe(pods.b1.address);
  });

  test('without the 1536 rule the packet leaves by eth0 and the fabric’s source check drops it; restored, it passes', async () => {
    const pod = secondary();
    const ns = nodeNs['node-1'];
    const rules = await ipJson(ns, ['rule', 'show']);
    const rule = rules.find((r) => r.priority === 1536 && r.src === pod.address);
    expect(rule).toBeDefined();
    const before = await fabricDrops();
    await run(['ip', '-n', ns, 'rule', 'del', 'priority', '1536', 'from', pod.address, 'table', rule.table]);
    try {
      expect(await ping(pod.netns, pods.b1.address)).toBe(false);
      const after = await fabricDrops();
      expect(after.packets).toBeGreaterThan(before.packets);
      expect(after.dropped).toContain(`n1e0 ${pod.address}`); // came in on node-1's eth0, which does not own it
    } finally {
      await run([
        'ip',
        '-n',
        ns,
        'rule',
        'add',
        'priority',
        '1536',
        'from',
        pod.address,
        'table',
        rule.table,
      ]);
    }
    expect(await ping(pod.netns, pods.b1.address)).toBe(true);
  });

  test('pod → internet is SNATed to the node’s primary address, from either interface', async () => {
    for (const p of [primary(), secondary()]) {
      expect(await whoami(p.netns, INTERNET)).toBe(nodeAddr['node-1']);
      expect(await whoami(p.netns, INTERNET, { udp: true })).toBe(nodeAddr['node-1']);
    }
    expect(await whoami(pods.b1.netns, INTERNET)).toBe(nodeAddr['node-2']);
  });

  test('off-VPC traffic of a secondary-interface pod leaves by eth0 thanks to connmark + rule 1024', async () => {
    const ns = nodeNs['node-1'];
    await run(['ip', '-n', ns, 'rule', 'del', 'priority', '1024', 'fwmark', '0x80/0x80', 'table', 'main']);
    try {
      // Without rule 1024 the SNATed packet (source = node address) leaves by eth1: the fabric drops it.
      expect(await whoami(secondary().netns, INTERNET)).toBe('');
      expect((await fabricDrops()).dropped).toContain(`n1e1 ${nodeAddr['node-1']}`);
    } finally {
      await run(['ip', '-n', ns, 'rule', 'add', 'priority', '1024', 'fwmark', '0x80/0x80', 'table', 'main']);
    }
    expect(await whoami(secondary().netns, INTERNET)).toBe(nodeAddr['node-1']);
  });

  test('a pod that forges its source address is dropped at the host', async () => {
    // A pod of node-1 claims its neighbour's address. The fabric would accept that packet (the
    // neighbour's interface owns the address), and the reply would go to the neighbour, so only the
    // host can stop it: count what leaves node-1 with the forged source towards b1.
    const [liar, victim] = [primary(), secondary()];
    const ns = nodeNs['node-1'];
    const probe = `table ip labprobe {
      counter leaving { }
      chain postrouting { type filter hook postrouting priority 0; policy accept;
        oifname "eth*" ip saddr ${victim.address} ip daddr ${pods.b1.address} counter name leaving
      }
    }`;
    const made = await run(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], { input: probe });
    expect(made.stderr).toBe('');
    const leaving = async () => {
      const r = await inNs(ns, ['nft', '-j', 'list', 'counter', 'ip', 'labprobe', 'leaving']);
      return JSON.parse(r.stdout).nftables.find((i: any) => i.counter).counter.packets as number;
    };
    try {
      // Control: the victim's own traffic is counted, so the probe sees this path.
      expect(await whoami(victim.netns, pods.b1.address)).toBe(victim.address);
      const honest = await leaving();
      expect(honest).toBeGreaterThan(0);
      await run(['ip', '-n', liar.netns, 'addr', 'add', `${victim.address}/32`, 'dev', 'eth0']);
      try {
        await whoami(liar.netns, pods.b1.address, { udp: true, bind: victim.address });
        await whoami(liar.netns, pods.b1.address, { bind: victim.address });
      } finally {
        await run(['ip', '-n', liar.netns, 'addr', 'del', `${victim.address}/32`, 'dev', 'eth0']);
      }
      expect(await leaving()).toBe(honest);
      expect(await whoami(liar.netns, pods.b1.address)).toBe(liar.address); // and the liar still works honestly
    } finally {
      await run(['ip', 'netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'labprobe']);
    }
  });

  test('rules, routes and neighbours match the design (ip -json)', async () => {
    const ns = nodeNs['node-1'];
    const rules = await ipJson(ns, ['rule', 'show']);
    const sec = secondary();
    const pri = primary();
    const table = String(sec.device + 1);
    for (const p of [pri, sec])
      expect(rules).toContainEqual({ priority: 512, src: 'all', dst: p.address, table: 'main' });
    expect(rules.filter((r) => r.priority === 1536)).toEqual([{ priority: 1536, src: sec.address, table }]);
    expect(rules).toContainEqual({
      priority: 1024,
      src: 'all',
      fwmark: '0x80',
      fwmask: '0x80',
      table: 'main',
    });
    const eth1 = fabricStatus().interfaces.find(
      (i: any) => i.instanceId && i.deviceNumber === 1 && i.node === ns,
    );
    expect(rules).toContainEqual({ priority: 32765, src: eth1.primaryAddress, table });

    // The daemon's own sysctls, written from inside the node namespace.
    const sysctl = await inNs(ns, ['sysctl', '-n', 'net.ipv4.ip_forward', 'net.ipv4.conf.eth0.rp_filter']);
    expect(sysctl.stdout.trim().split('\n')).toEqual(['1', '2']);
    const gw = (await ipJson(ns, ['route', 'show', 'table', table])).map((r) => r.dst).sort();
    expect(gw).toHaveLength(2);
    expect(gw).toContain('default');

    for (const p of [pri, sec]) {
      const [route] = await ipJson(ns, ['route', 'show', 'table', 'main', `${p.address}/32`]);
      expect(route).toMatchObject({ dst: p.address, scope: 'link' });
      const [hostVeth] = await ipJson(ns, ['link', 'show', route.dev]);
      expect(route.dev.length).toBeLessThanOrEqual(15);
      // Pod side: /32, the 169.254.1.1 gateway, and a permanent neighbour entry naming the host veth's MAC.
      const [eth0] = await ipJson(p.netns, ['addr', 'show', 'eth0']);
      expect(eth0.addr_info.filter((a: any) => a.family === 'inet')).toEqual([
        expect.objectContaining({ local: p.address, prefixlen: 32 }),
      ]);
      const podRoutes = await ipJson(p.netns, ['route', 'show']);
      expect(podRoutes).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ dst: 'default', gateway: '169.254.1.1', dev: 'eth0' }),
          expect.objectContaining({ dst: '169.254.1.1', dev: 'eth0', scope: 'link' }),
        ]),
      );
      const neigh = await ipJson(p.netns, ['neigh', 'show', 'dev', 'eth0']);
      expect(neigh).toContainEqual(
        expect.objectContaining({ dst: '169.254.1.1', lladdr: hostVeth.address, state: ['PERMANENT'] }),
      );
    }
  });

  test('pod del removes the pod’s veth, rules and route from the node', async () => {
    const ns = nodeNs['node-1'];
    const p = secondary();
    const [route] = await ipJson(ns, ['route', 'show', 'table', 'main', `${p.address}/32`]);
    await lab.must(['pod', 'del', 'node-1', p.name]);
    const rules = await ipJson(ns, ['rule', 'show']);
    expect(rules.filter((r) => r.dst === p.address || r.src === p.address)).toEqual([]);
    expect(await ipJson(ns, ['route', 'show', 'table', 'main', `${p.address}/32`])).toEqual([]);
    expect((await run(['ip', '-n', ns, 'link', 'show', route.dev])).code).not.toBe(0);
    delete pods[p.name];
  });
});
