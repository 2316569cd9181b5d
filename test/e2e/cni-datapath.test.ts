// The pod datapath the plugin builds (ARCHITECTURE section 3), in real namespaces: a "host" namespace of the
// test (the plugin runs there) and one namespace per pod. Checked with `ip -json` and with traffic.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlugin, type Invocation } from '../helpers/cni-plugin.js';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { ROOT } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';

describe('pod datapath', () => {
  let host: Netns;
  let podA: Netns;
  let podB: Netns;
  const fillers: Netns[] = [];
  let daemon: CniDaemon;
  let dir: string;
  let conf: (extra?: object) => string;
  const pods: Record<string, { inv: Invocation; result: any }> = {};

  const inv = (pod: Netns, name: string, extra: Partial<Invocation> = {}): Invocation => ({
    command: 'ADD',
    containerId: `cid-${name}`,
    netns: pod.path,
    ifname: 'eth0',
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_UID=uid-${name}`,
    stdin: conf(),
    ...extra,
  });
  const add = async (pod: Netns, name: string, extra: Partial<Invocation> = {}) => {
    const i = inv(pod, name, extra);
    const r = await runPlugin(host, i);
    expect(r.stderr).toBe('');
    expect(r.json).toMatchObject({ ips: [expect.anything()] });
    pods[name] = { inv: i, result: r.json };
    return r.json;
  };
  const withPrev = (name: string, command: string, extra: Partial<Invocation> = {}) =>
    runPlugin(host, { ...pods[name].inv, command, stdin: conf({ prevResult: pods[name].result }), ...extra });
  /** How the plugin set up each pod's datapath ('netlink' or 'iproute2'), from its ADD log lines. */
  const datapathOf = (address: string) =>
    readFileSync(join(dir, 'plugin.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('pod network set up') && l.includes(`"address":"${address}"`))
      .map((l) => JSON.parse(l).datapath as string);
  const ipOf = (name: string) => pods[name].result.ips[0].address.split('/')[0] as string;
  const vethOf = (name: string) => pods[name].result.interfaces[0].name as string;

  beforeAll(async () => {
    host = Netns.create('cni');
    podA = Netns.create('cni');
    podB = Netns.create('cni');
    host.sh('sysctl -qw net.ipv4.ip_forward=1');
    dir = mkdtempSync(join(tmpdir(), 'tp-cni-dp-'));
    daemon = await startCniDaemon(host, { env: { MINIMUM_IP_TARGET: '12', WARM_IP_TARGET: '4' } });
    conf = (extra = {}) =>
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'tidepool',
        type: 'tidepool',
        socket: daemon.socket,
        logFile: join(dir, 'plugin.log'),
        ...extra,
      });
    await add(podA, 'web-a');
    await add(podB, 'web-b');
    // More pods until the daemon has placed one on a secondary interface: the pool spans two interfaces
    // (MINIMUM_IP_TARGET 12 > the 9 addresses the primary interface can hold for pods).
    for (let i = 1; i <= 12; i++) {
      const tables = [...(await daemon.routeTables()).values()];
      if (tables.includes(254) && tables.some((t) => t !== 254)) break;
      const ns = Netns.create('cni');
      fillers.push(ns);
      await add(ns, `fill-${i}`);
    }
  });
  afterAll(async () => {
    await daemon?.cleanup();
    for (const ns of [podA, podB, ...fillers, host]) await ns?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the pod eth0 with its /32, the 169.254.1.1 gateway routes and a permanent neighbour', () => {
    const ip = ipOf('web-a');
    const [link] = podA.json('addr show dev eth0');
    expect(link.mtu).toBe(9001);
    expect(link.addr_info.filter((a: any) => a.family === 'inet')).toEqual([
      expect.objectContaining({ local: ip, prefixlen: 32 }),
    ]);
    const routes = podA.json('route show');
    expect(routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: 'default', gateway: '169.254.1.1', dev: 'eth0' }),
        expect.objectContaining({ dst: '169.254.1.1', dev: 'eth0', scope: 'link' }),
      ]),
    );
    const [hostVeth] = host.json(`link show dev ${vethOf('web-a')}`);
    const neigh = podA.json('neigh show 169.254.1.1 dev eth0');
    expect(neigh).toEqual([expect.objectContaining({ lladdr: hostVeth.address, state: ['PERMANENT'] })]);
    // Locally administered unicast, set by the plugin (the result says the same).
    expect(parseInt(hostVeth.address.slice(0, 2), 16) & 3).toBe(2);
    expect(pods['web-a'].result.interfaces[0].mac).toBe(hostVeth.address);
  });

  it('sets the datapath up in process over rtnetlink when the build carries the addon', () => {
    const built = existsSync(join(ROOT, 'dist/native/netlink.node'));
    expect(datapathOf(ipOf('web-a'))).toEqual([built ? 'netlink' : 'iproute2']);
  });

  it('names the host veth <prefix><11 hex of sha1(namespace.pod)> and routes the /32 to it, rule 512 first', () => {
    expect(vethOf('web-a')).toBe(
      'eni' + createHash('sha1').update('default.web-a').digest('hex').slice(0, 11),
    );
    const ip = ipOf('web-a');
    expect(host.json(`route show ${ip}/32`)).toEqual([
      expect.objectContaining({ dst: ip, dev: vethOf('web-a'), scope: 'link' }),
    ]);
    expect(host.json('rule show')).toEqual(
      expect.arrayContaining([expect.objectContaining({ priority: 512, dst: ip, table: 'main' })]),
    );
    expect(host.sh(`cat /proc/sys/net/ipv4/conf/${vethOf('web-a')}/rp_filter`).trim()).toBe('1');
  });

  it("sends a pod on a secondary interface to that interface's table (rule 1536), and a pod on the primary to none", async () => {
    const tables = await daemon.routeTables();
    const rules = host.json('rule show');
    const from1536 = (ip: string) =>
      rules.filter((r: any) => r.priority === 1536 && r.src === ip).map((r: any) => r.table);
    const seen = new Set<string>();
    for (const name of Object.keys(pods)) {
      const ip = ipOf(name);
      const table = tables.get(ip)!;
      expect(table).toBeDefined();
      seen.add(table === 254 ? 'primary' : 'secondary');
      expect({ name, rules: from1536(ip) }).toEqual({ name, rules: table === 254 ? [] : [String(table)] });
    }
    expect([...seen].sort()).toEqual(['primary', 'secondary']);
  });

  it('carries traffic between two pods through the host', async () => {
    const r = await podA.exec(['ping', '-c', '2', '-W', '2', ipOf('web-b')]);
    expect(r.code).toBe(0);
  });

  it('drops, at the host, a packet whose source the pod does not own (strict rp_filter on its veth)', async () => {
    const forged = '198.51.100.99'; // a documentation address no pod owns
    // Echo requests pod B received (its interface counters also see IPv6 neighbour discovery).
    const rxB = () => Number(/IcmpInEchos\s+(\d+)/.exec(podB.sh('nstat -az IcmpInEchos'))?.[1]);
    const rpDrops = () =>
      Number(/IPReversePathFilter\s+(\d+)/.exec(host.sh('nstat -az TcpExtIPReversePathFilter'))?.[1]);
    podA.sh(`ip addr add ${forged}/32 dev eth0`);
    try {
      const [rx0, drops0] = [rxB(), rpDrops()];
      const forgedPing = await podA.exec([
        'ping',
        '-c',
        '3',
        '-i',
        '0.2',
        '-W',
        '1',
        '-I',
        forged,
        ipOf('web-b'),
      ]);
      expect(forgedPing.code).not.toBe(0);
      expect(rxB()).toBe(rx0);
      expect(rpDrops()).toBeGreaterThanOrEqual(drops0 + 3);
      // Control: the same packets pass once the veth's filter is off, so it is the filter that drops them.
      host.sh(`sysctl -qw net.ipv4.conf.${vethOf('web-a')}.rp_filter=0 net.ipv4.conf.all.rp_filter=0`);
      await podA.exec(['ping', '-c', '3', '-i', '0.2', '-W', '1', '-I', forged, ipOf('web-b')]);
      expect(rxB()).toBeGreaterThanOrEqual(rx0 + 3);
    } finally {
      host.sh(`sysctl -qw net.ipv4.conf.${vethOf('web-a')}.rp_filter=1`);
      podA.sh(`ip addr del ${forged}/32 dev eth0`);
    }
  });

  it('CHECK passes on an intact datapath and names each broken piece', async () => {
    expect((await withPrev('web-a', 'CHECK')).code).toBe(0);
    const ip = ipOf('web-a');
    const veth = vethOf('web-a');
    const breaks: [string, Netns, string, string, RegExp][] = [
      [
        'host route',
        host,
        `ip route del ${ip}/32`,
        `ip route add ${ip}/32 dev ${veth} scope link`,
        /route .* is missing/,
      ],
      [
        'rule 512',
        host,
        `ip rule del to ${ip} priority 512`,
        `ip rule add to ${ip} lookup main priority 512`,
        /rule to .* 512/,
      ],
      [
        'rp_filter',
        host,
        `sysctl -qw net.ipv4.conf.${veth}.rp_filter=2`,
        `sysctl -qw net.ipv4.conf.${veth}.rp_filter=1`,
        /rp_filter/,
      ],
      ['neighbour', podA, 'ip neigh del 169.254.1.1 dev eth0', '', /neighbour/],
      [
        'default route',
        podA,
        'ip route del default',
        'ip route add default via 169.254.1.1 dev eth0',
        /default route/,
      ],
      ['pod address', podA, `ip addr del ${ip}/32 dev eth0`, `ip addr add ${ip}/32 dev eth0`, /lacks/],
    ];
    const mac = pods['web-a'].result.interfaces[0].mac;
    breaks.find((b) => b[0] === 'neighbour')![3] =
      `ip neigh add 169.254.1.1 lladdr ${mac} dev eth0 nud permanent`;
    for (const [what, ns, breakIt, fix, message] of breaks) {
      ns.sh(breakIt);
      const r = await withPrev('web-a', 'CHECK');
      ns.sh(fix);
      // Removing a device's last IPv4 address flushes its routes and neighbours: put them back too.
      if (what === 'pod address')
        podA.sh(
          'ip route replace 169.254.1.1 dev eth0 scope link && ip route replace default via 169.254.1.1 dev eth0 && ' +
            `ip neigh replace 169.254.1.1 lladdr ${mac} dev eth0 nud permanent`,
        );
      expect({ what, code: r.json?.code, msg: r.json?.msg }).toEqual({
        what,
        code: 100,
        msg: expect.stringMatching(message),
      });
    }
    expect((await withPrev('web-a', 'CHECK')).json).toBeNull();
    // The 1536 rule of a pod on a secondary interface.
    const tables = await daemon.routeTables();
    const secondary = Object.keys(pods).find((n) => tables.get(ipOf(n)) !== 254)!;
    const sip = ipOf(secondary);
    host.sh(`ip rule del from ${sip} priority 1536`);
    const r = await withPrev(secondary, 'CHECK');
    host.sh(`ip rule add from ${sip} lookup ${tables.get(sip)} priority 1536`);
    expect(r.json).toMatchObject({
      code: 100,
      msg: expect.stringMatching(/rule from .* priority 1536 is missing/),
    });
    expect((await withPrev(secondary, 'CHECK')).json).toBeNull();
  });

  it('rolls back the veth and the address when the pod side fails half-way', async () => {
    const podC = Netns.create('cni');
    try {
      // An existing 169.254.1.1 route makes the plugin's 4th pod-side step fail, after veth and address.
      podC.sh('ip route add 169.254.1.1/32 dev lo');
      const before = [host.snapshot(), podC.snapshot(), await daemon.allocations()];
      const r = await runPlugin(host, inv(podC, 'web-c'));
      expect(r.json).toMatchObject({ code: 100, msg: expect.stringMatching(/169.254.1.1/) });
      expect([host.snapshot(), podC.snapshot(), await daemon.allocations()]).toEqual(before);
    } finally {
      await podC.cleanup();
    }
  });

  it('passes a chained prevResult through, with its interfaces and addresses first', async () => {
    const podP = Netns.create('cni');
    try {
      const prev = {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'net9', sandbox: podP.path }],
        ips: [{ address: '192.0.2.9/24', interface: 0 }],
        routes: [{ dst: '192.0.2.0/24' }],
        dns: { nameservers: ['192.0.2.53'] },
      };
      const i = inv(podP, 'web-p', { stdin: conf({ prevResult: prev }) });
      const r = await runPlugin(host, i);
      expect(r.json.interfaces.map((x: any) => x.name)).toEqual([
        'net9',
        expect.stringMatching(/^eni/),
        'eth0',
      ]);
      expect(r.json.ips).toEqual([
        { address: '192.0.2.9/24', interface: 0 },
        expect.objectContaining({
          address: expect.stringMatching(/\/32$/),
          gateway: '169.254.1.1',
          interface: 2,
        }),
      ]);
      expect(r.json.routes).toEqual([{ dst: '192.0.2.0/24' }, { dst: '0.0.0.0/0', gw: '169.254.1.1' }]);
      expect(r.json.dns).toEqual({ nameservers: ['192.0.2.53'] });
      // DEL with that result finds our address and veth among the other plugin's entries.
      expect(
        (await runPlugin(host, { ...i, command: 'DEL', stdin: conf({ prevResult: r.json }) })).code,
      ).toBe(0);
      expect(podP.json('link show').map((l: any) => l.ifname)).toEqual(['lo']);
    } finally {
      await podP.cleanup();
    }
  });

  it('builds the same datapath with iproute2 when the addon is left aside (TIDEPOOL_PLUGIN_NO_ADDON=1)', async () => {
    const podF = Netns.create('cni');
    const env = { TIDEPOOL_PLUGIN_NO_ADDON: '1' };
    try {
      const i = inv(podF, 'web-f', { env });
      const r = await runPlugin(host, i);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const ip = r.json.ips[0].address.split('/')[0];
      expect(datapathOf(ip)).toEqual(['iproute2']);
      expect(host.json(`route show ${ip}/32`)).toEqual([
        expect.objectContaining({ dst: ip, dev: r.json.interfaces[0].name }),
      ]);
      expect((await podF.exec(['ping', '-c', '1', '-W', '2', ipOf('web-a')])).code).toBe(0);
      const prev = conf({ prevResult: r.json });
      expect((await runPlugin(host, { ...i, command: 'CHECK', stdin: prev })).code).toBe(0);
      expect((await runPlugin(host, { ...i, command: 'DEL', stdin: prev })).code).toBe(0);
      expect(podF.json('link show').map((l: any) => l.ifname)).toEqual(['lo']);
      expect(await daemon.allocations()).not.toContain(ip);
    } finally {
      await podF.cleanup();
    }
  });

  it('prints the result in the version asked for', async () => {
    const podD = Netns.create('cni');
    try {
      for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
        const i = inv(podD, 'web-d', { stdin: conf({ cniVersion: v }) });
        const r = await runPlugin(host, i);
        expect(r.json.cniVersion).toBe(v);
        expect(r.json.ips[0].version).toBe(v < '1.0.0' ? '4' : undefined);
        expect(r.json.interfaces[1].mtu).toBe(v === '1.1.0' ? 9001 : undefined);
        expect((await runPlugin(host, { ...i, command: 'DEL' })).code).toBe(0);
      }
    } finally {
      await podD.cleanup();
    }
  });

  it('DEL of an old sandbox does not remove the veth of the pod re-created under the same name', async () => {
    const old = Netns.create('cni');
    const renewed = Netns.create('cni');
    try {
      const first = await runPlugin(host, inv(old, 'web-e', { containerId: 'cid-e-old' }));
      expect(first.code).toBe(0);
      const second = await runPlugin(host, inv(renewed, 'web-e', { containerId: 'cid-e-new' }));
      expect(second.json).toMatchObject({ ips: [expect.anything()] });
      expect(second.json.interfaces[0].name).toBe(first.json.interfaces[0].name); // the stale link was replaced
      // containerd's second DEL of the old sandbox: no netns, no prevResult.
      const del = await runPlugin(
        host,
        inv(old, 'web-e', { command: 'DEL', containerId: 'cid-e-old', netns: '' }),
      );
      expect(del.code).toBe(0);
      const ip = second.json.ips[0].address.split('/')[0];
      expect(host.json(`route show ${ip}/32`)).toHaveLength(1);
      expect((await renewed.exec(['ping', '-c', '1', '-W', '2', ipOf('web-a')])).code).toBe(0);
      await runPlugin(host, inv(renewed, 'web-e', { command: 'DEL', containerId: 'cid-e-new' }));
    } finally {
      await old.cleanup();
      await renewed.cleanup();
    }
  });

  it('GC releases the attachments missing from the valid list and removes their routes and rules', async () => {
    const gcConf = (extra: object) => conf({ cniVersion: '1.1.0', name: 'tidepool-gc', ...extra });
    const podG = Netns.create('cni');
    const podS = Netns.create('cni');
    try {
      const keep = inv(podG, 'gc-keep', { containerId: 'cid-gc-keep', stdin: gcConf({}) });
      const stale = inv(podS, 'gc-stale', { containerId: 'cid-gc-stale', stdin: gcConf({}) });
      const [k, st] = [await runPlugin(host, keep), await runPlugin(host, stale)];
      expect([k.code, st.code]).toEqual([0, 0]);
      const [keepIp, staleIp] = [k.json.ips[0].address.split('/')[0], st.json.ips[0].address.split('/')[0]];
      const others = await daemon.allocations();
      // No list: validity unknown, nothing released.
      expect((await runPlugin(host, { command: 'GC', stdin: gcConf({}) })).code).toBe(0);
      expect(await daemon.allocations()).toEqual(others);
      const valid = [{ containerID: 'cid-gc-keep', ifname: 'eth0' }];
      const gc = await runPlugin(host, {
        command: 'GC',
        stdin: gcConf({ 'cni.dev/valid-attachments': valid, 'cni.dev/attachments': valid }),
      });
      expect(gc).toMatchObject({ code: 0, stdout: '' });
      const after = await daemon.allocations();
      expect(after).toContain(keepIp);
      expect(after).not.toContain(staleIp);
      expect(after.length).toBe(others.length - 1); // only this network's stale attachment, no other pod
      expect(host.json(`route show ${staleIp}/32`)).toEqual([]);
      expect(host.json('rule show').filter((r: any) => r.dst === staleIp || r.src === staleIp)).toEqual([]);
      expect(host.json(`route show ${keepIp}/32`)).toHaveLength(1);
      // The stale pod's veth went with its address; the valid pod keeps its interface.
      expect(podS.json('link show').map((l: any) => l.ifname)).toEqual(['lo']);
      expect(podG.json('link show').map((l: any) => l.ifname)).toEqual(['lo', 'eth0']);
      expect((await runPlugin(host, { ...keep, command: 'DEL' })).code).toBe(0);
    } finally {
      await podG.cleanup();
      await podS.cleanup();
    }
  });

  it('DEL removes everything, is idempotent, and works with no netns and no prevResult', async () => {
    const ip = ipOf('web-b');
    const veth = vethOf('web-b');
    expect((await withPrev('web-b', 'DEL')).code).toBe(0);
    expect(host.json(`link show`).map((l: any) => l.ifname)).not.toContain(veth);
    expect(podB.json('link show').map((l: any) => l.ifname)).toEqual(['lo']);
    expect(host.json(`route show ${ip}/32`)).toEqual([]);
    expect(host.json('rule show').filter((r: any) => r.dst === ip || r.src === ip)).toEqual([]);
    expect(await daemon.allocations()).not.toContain(ip);
    expect((await withPrev('web-b', 'DEL')).code).toBe(0);
    expect((await runPlugin(host, { ...pods['web-b'].inv, command: 'DEL', netns: '' })).code).toBe(0);
  });

  it('DEL with the daemon down tears the datapath down from prevResult', async () => {
    const ip = ipOf('web-a');
    await daemon.stop();
    try {
      const r = await withPrev('web-a', 'DEL');
      expect(r.code).toBe(0);
      expect(host.json('link show').map((l: any) => l.ifname)).not.toContain(vethOf('web-a'));
      expect(podA.json('link show').map((l: any) => l.ifname)).toEqual(['lo']);
      expect(host.json('rule show').filter((x: any) => x.dst === ip || x.src === ip)).toEqual([]);
      expect(host.json(`route show ${ip}/32`)).toEqual([]);
    } finally {
      await daemon.start();
    }
  });
});
