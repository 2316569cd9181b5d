// DEL, CHECK and GC never touch what Tidepool did not create (issue 11, defects 1 and 4). The plugin runs
// in a node namespace of the test with a stand-in eth0 (a veth end, its peer in an "uplink" namespace), as
// on a node. A command whose CNI_NETNS names that very namespace — by its /run/netns bind mount, by
// /proc/self/ns/net, through a process beside the plugin, through a second bind mount — is refused with
// code 4 and eth0 is still there; a DEL of a container nobody knows leaves a pod namespace's own interfaces
// alone; GC removes no link that is not a Tidepool veth; a DEL whose prevResult cannot be parsed still
// cleans up what the daemon names and succeeds.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPlugin, type Invocation } from '../helpers/cni-plugin.js';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { ROOT } from '../helpers/daemon.js';
import { Netns } from '../helpers/netns.js';

describe('DEL, CHECK and GC leave the node and foreign interfaces alone', () => {
  let node: Netns;
  let uplink: Netns;
  let daemon: CniDaemon;
  let dir: string;
  let alias: string;
  let besidePid: number;
  let conf: (extra?: object) => string;

  const links = (ns: Netns) => ns.json('link show').map((l: any) => l.ifname as string);
  const base = (extra: Partial<Invocation> = {}): Invocation => ({
    command: 'DEL',
    containerId: 'never-added-1',
    netns: node.path,
    ifname: 'eth0',
    args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=ghost',
    stdin: conf(),
    ...extra,
  });

  beforeAll(async () => {
    node = Netns.create('cnisafe');
    uplink = Netns.create('cnisafe');
    // The node's stand-in eth0: a veth end with the node's address, its peer in the uplink namespace.
    node.sh(`ip link add eth0 type veth peer name up0 netns ${uplink.name}`);
    node.sh('ip addr add 10.77.0.10/24 dev eth0 && ip link set eth0 up');
    uplink.sh('ip addr add 10.77.0.1/24 dev up0 && ip link set up0 up');
    dir = mkdtempSync(join(tmpdir(), 'tp-cnisafe-del-'));
    // A second bind mount of the node namespace, elsewhere than /run/netns.
    alias = join(dir, 'node-alias');
    writeFileSync(alias, '');
    execFileSync('mount', ['--bind', node.path, alias]);
    besidePid = node.start(['sleep', '600']).pid!;
    daemon = await startCniDaemon(node);
    conf = (extra: object = {}) =>
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'tidepool',
        type: 'tidepool',
        socket: daemon.socket,
        logFile: join(dir, 'plugin.log'),
        lockDir: join(dir, 'locks'),
        ...extra,
      });
  });
  afterAll(async () => {
    await daemon?.cleanup();
    try {
      execFileSync('umount', [alias]);
    } catch {
      /* not mounted */
    }
    await node?.cleanup();
    await uplink?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const nodePaths = () => [
    ['its /run/netns bind mount', node.path],
    ['/proc/self/ns/net', '/proc/self/ns/net'],
    ['/proc/<pid>/ns/net of a process beside the plugin', `/proc/${besidePid}/ns/net`],
    ['a second bind mount of it', alias],
  ];

  it.each(['DEL', 'CHECK', 'ADD'])(
    '%s with CNI_NETNS naming the node namespace, by any path, is refused (code 4) and eth0 stays',
    async (command) => {
      for (const [what, path] of nodePaths()) {
        const before = [node.snapshot(), await daemon.allocations()];
        const prevResult = {
          interfaces: [{ name: 'eth0', sandbox: path }],
          ips: [{ address: '10.77.0.10/24', interface: 0 }],
        };
        const r = await runPlugin(node, base({ command, netns: path, stdin: conf({ prevResult }) }));
        expect([what, r.json]).toEqual([
          what,
          expect.objectContaining({ code: 4, msg: expect.stringMatching(/network namespace, not a pod's/) }),
        ]);
        expect(links(node)).toContain('eth0');
        expect([node.snapshot(), await daemon.allocations()]).toEqual(before);
      }
    },
  );

  it('GC with CNI_NETNS naming the node namespace is refused too', async () => {
    const r = await runPlugin(node, {
      command: 'GC',
      netns: '/proc/self/ns/net',
      stdin: conf({ 'cni.dev/valid-attachments': [] }),
    });
    expect(r.json).toMatchObject({ code: 4 });
    expect(links(node)).toContain('eth0');
  });

  it("refuses the runtime's namespace as well (the namespace of the process that ran the plugin)", async () => {
    // Only a stat, run inside the node namespace by a child of this test (in the machine's namespace): the
    // check alone, with nothing it could touch. The plugin itself is never pointed at the machine's namespace.
    const r = await node.exec([
      process.execPath,
      '--import',
      'tsx',
      '-e',
      `import('${ROOT}cni/datapath/netns.ts').then((m) => { try { console.log(m.checkNetns('DEL', '/proc/' + process.ppid + '/ns/net')); } catch (e) { console.log(e.code, e.message); } })`,
    ]);
    expect(r.stdout).toMatch(
      /^4 CNI_NETNS \/proc\/\d+\/ns\/net is the network namespace of the runtime that ran the plugin/,
    );
  });

  it("DEL of a container nobody knows, in a real pod namespace, leaves the pod's own interfaces alone", async () => {
    const pod = Netns.create('cnisafe');
    const other = Netns.create('cnisafe');
    try {
      // Interfaces of someone else in the pod namespace: veth ends named eth0 and net1.
      pod.sh(`ip link add eth0 type veth peer name peer0 netns ${other.name}`);
      pod.sh('ip addr add 192.168.50.2/24 dev eth0 && ip link set eth0 up');
      pod.sh(`ip link add net1 type veth peer name peer1 netns ${other.name}`);
      const before = [node.snapshot(), pod.snapshot(), await daemon.allocations()];
      for (const ifname of ['eth0', 'net1']) {
        const r = await runPlugin(node, base({ netns: pod.path, ifname }));
        expect(r).toMatchObject({ code: 0, stdout: '' });
      }
      // A prevResult that lists none of our interfaces changes nothing either.
      const foreign = { interfaces: [{ name: 'eth0', sandbox: pod.path }], ips: [] };
      expect(
        (await runPlugin(node, base({ netns: pod.path, stdin: conf({ prevResult: foreign }) }))).code,
      ).toBe(0);
      expect([node.snapshot(), pod.snapshot(), await daemon.allocations()]).toEqual(before);
    } finally {
      await pod.cleanup();
      await other.cleanup();
    }
  });

  it('GC removes no link that is not a Tidepool veth, whatever a released address routes to', async () => {
    const pod = Netns.create('cnisafe');
    try {
      // vethPrefix "eth0" is a valid prefix; a host veth of ours is then eth0<11 hex>, never eth0 itself.
      const gcConf = (extra: object = {}) => conf({ name: 'tidepool-gc', vethPrefix: 'eth0', ...extra });
      const add = await runPlugin(
        node,
        base({ command: 'ADD', containerId: 'gc-1', netns: pod.path, stdin: gcConf() }),
      );
      expect(add.code).toBe(0);
      const ip = add.json.ips[0].address.split('/')[0];
      const veth = add.json.interfaces[0].name;
      expect(veth).toMatch(/^eth0[0-9a-f]{11}$/);
      // Someone pointed the pod's /32 at the node's eth0.
      node.sh(`ip route replace ${ip}/32 dev eth0`);
      const gc = await runPlugin(node, {
        command: 'GC',
        stdin: gcConf({ 'cni.dev/valid-attachments': [] }),
      });
      expect(gc).toMatchObject({ code: 0, stdout: '' });
      expect(await daemon.allocations()).not.toContain(ip);
      expect(links(node)).toContain('eth0');
      node.sh(
        `ip link del ${veth}; ip route del ${ip}/32; ip rule del to ${ip} priority 512; ip rule del from ${ip} priority 1536; true`,
      );
    } finally {
      await pod.cleanup();
    }
  });

  it('DEL with a prevResult it cannot parse still releases the address, removes the datapath and succeeds', async () => {
    const pod = Netns.create('cnisafe');
    try {
      const inv = base({
        command: 'ADD',
        containerId: 'bad-prev-1',
        netns: pod.path,
        args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=bad-prev',
      });
      const before = [node.snapshot(), pod.snapshot(), await daemon.allocations()];
      const add = await runPlugin(node, inv);
      expect(add.code).toBe(0);
      const ip = add.json.ips[0].address.split('/')[0];
      const broken = { ...add.json, ips: [{ address: '999.1.1.1/32', interface: 1 }, ...add.json.ips] };
      // ADD and CHECK refuse it as undecodable (code 6), naming the field; the pod is untouched.
      for (const command of ['CHECK', 'ADD']) {
        const r = await runPlugin(node, { ...inv, command, stdin: conf({ prevResult: broken }) });
        expect(r.json).toMatchObject({
          code: 6,
          msg: expect.stringMatching(/ips\[0\]\.address "999\.1\.1\.1\/32"/),
        });
      }
      expect(await daemon.allocations()).toContain(ip);
      const del = await runPlugin(node, { ...inv, command: 'DEL', stdin: conf({ prevResult: broken }) });
      expect(del).toMatchObject({ code: 0, stdout: '' });
      expect([node.snapshot(), pod.snapshot(), await daemon.allocations()]).toEqual(before);
    } finally {
      await pod.cleanup();
    }
  });
});
