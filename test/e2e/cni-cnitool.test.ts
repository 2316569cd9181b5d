// A real CNI runtime library as the caller: cnitool v1.3.0 (libcni) runs ADD, CHECK, DEL, GC and STATUS
// on a conflist that chains Debian's portmap and bandwidth after tidepool (cniVersion 1.0.0: Debian's
// plugins speak no later version), and GC/STATUS on a tidepool-only 1.1.0 conflist (libcni sends GC and
// STATUS only from 1.1.0 on). cnitool and every plugin run in a host namespace of the test.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assertSelfContained, PATH_WITHOUT_NODE, PLUGIN, runPlugin } from '../helpers/cni-plugin.js';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { Netns } from '../helpers/netns.js';

const CNITOOL = resolve(process.env.GOBIN ?? '.cache/gobin', 'cnitool');
const CACHE = '/var/lib/cni/results';
// A runtime sends the same capability arguments with every operation of an attachment (portmap needs them
// on DEL to find its rules).
const CAPS = JSON.stringify({
  portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }],
  bandwidth: { ingressRate: 8000000, ingressBurst: 800000, egressRate: 0, egressBurst: 0 },
});
// Debian's plugins 1.1.1 cannot CHECK everything: portmap's CHECK looks for its IPv4 rules in ip6tables too
// (fails with "could not check ipv6 dnat"), bandwidth's CHECK dereferences a nil config without bandwidth
// arguments (panics). CHECK therefore passes the bandwidth arguments and no port mappings.
const CHECK_CAPS = JSON.stringify({ bandwidth: JSON.parse(CAPS).bandwidth });

describe('cnitool (libcni v1.3.0) drives the plugin', () => {
  let host: Netns;
  let pod: Netns;
  let daemon: CniDaemon;
  let dir: string;
  let net: string;
  let net11: string;

  const cnitool = async (verb: string, network: string, podNs: Netns, env: Record<string, string> = {}) =>
    host.exec([
      'env',
      // cnitool and the plugins it runs have no node on their PATH: the plugin is self-contained.
      `PATH=${PATH_WITHOUT_NODE}`,
      `NETCONFPATH=${join(dir, 'net.d')}`,
      `CNI_PATH=${resolve('dist/bin')}:/usr/lib/cni`,
      `CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-${podNs.name}`,
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      CNITOOL,
      verb,
      network,
      podNs.path,
    ]);
  const pluginLog = () =>
    existsSync(join(dir, 'plugin.log')) ? readFileSync(join(dir, 'plugin.log'), 'utf8') : '';
  const cached = (network: string) =>
    existsSync(CACHE) ? readdirSync(CACHE).filter((f) => f.startsWith(`${network}-`)) : [];

  beforeAll(async () => {
    assertSelfContained(PLUGIN);
    host = Netns.create('cni');
    pod = Netns.create('cni');
    host.sh('sysctl -qw net.ipv4.ip_forward=1');
    dir = mkdtempSync(join(tmpdir(), 'tp-cni-cnitool-'));
    daemon = await startCniDaemon(host);
    net = `tp-cni-${host.name.slice(-8)}`;
    net11 = `${net}-11`;
    const tidepool = {
      type: 'tidepool',
      socket: daemon.socket,
      logFile: join(dir, 'plugin.log'),
      logLevel: 'debug',
    };
    mkdirSync(join(dir, 'net.d'));
    writeFileSync(
      join(dir, 'net.d', `10-${net}.conflist`),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: net,
        plugins: [
          tidepool,
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
          { type: 'bandwidth', capabilities: { bandwidth: true } },
        ],
      }),
    );
    writeFileSync(
      join(dir, 'net.d', `20-${net11}.conflist`),
      JSON.stringify({ cniVersion: '1.1.0', name: net11, plugins: [tidepool] }),
    );
  });
  afterAll(async () => {
    await daemon?.cleanup();
    for (const ns of [pod, host]) await ns?.cleanup();
    for (const f of [...cached(net), ...cached(net11)]) rmSync(join(CACHE, f), { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('ADD through the chain: our result passes through portmap and bandwidth, which act on our veth', async () => {
    const r = await cnitool('add', net, pod, { CAP_ARGS: CAPS });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.cniVersion).toBe('1.0.0');
    const [hostVeth, podIf] = result.interfaces;
    expect(podIf).toMatchObject({ name: 'eth0', sandbox: pod.path });
    expect(result.ips).toEqual([
      expect.objectContaining({ address: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+\/32$/), interface: 1 }),
    ]);
    const ip = result.ips[0].address.split('/')[0];
    expect(await daemon.allocations()).toEqual([ip]);
    // portmap: DNAT of host port 18080 to the pod's address, in the host namespace.
    expect(host.sh('iptables-save -t nat')).toMatch(
      new RegExp(`--dport 18080 .*--to-destination ${ip.replace(/\./g, '\\.')}:80`),
    );
    // bandwidth: a token bucket on the host end of our veth (found by its empty sandbox in our result).
    expect(host.sh(`tc qdisc show dev ${hostVeth.name}`)).toMatch(/tbf/);
    expect(cached(net)).toHaveLength(1);
  });

  it('CHECK passes, and fails with our message once the datapath is broken', async () => {
    expect(await cnitool('check', net, pod, { CAP_ARGS: CHECK_CAPS })).toMatchObject({ code: 0, stderr: '' });
    const ip = (await daemon.allocations())[0];
    host.sh(`ip rule del to ${ip} priority 512`);
    const broken = await cnitool('check', net, pod, { CAP_ARGS: CHECK_CAPS });
    host.sh(`ip rule add to ${ip} lookup main priority 512`);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr + broken.stdout).toMatch(/rule to .* priority 512 is missing/);
    expect((await cnitool('check', net, pod, { CAP_ARGS: CHECK_CAPS })).code).toBe(0);
  });

  it('DEL through the chain removes everything, and a second DEL succeeds', async () => {
    const before = pod.json('link show').length;
    expect(before).toBe(2);
    const r = await cnitool('del', net, pod, { CAP_ARGS: CAPS });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(pod.json('link show').map((l: any) => l.ifname)).toEqual(['lo']);
    expect(host.json('link show').map((l: any) => l.ifname)).toEqual(['lo']);
    expect(host.json('rule show').map((x: any) => x.priority)).toEqual([0, 32766, 32767]);
    expect(host.sh('iptables-save -t nat')).not.toMatch(/18080/);
    expect(await daemon.allocations()).toEqual([]);
    expect(cached(net)).toEqual([]);
    expect((await cnitool('del', net, pod, { CAP_ARGS: CAPS })).code).toBe(0);
  });

  it('GC on the 1.0.0 chain deletes the cached attachment through DEL', async () => {
    expect((await cnitool('add', net, pod)).code).toBe(0);
    expect(await daemon.allocations()).toHaveLength(1);
    const r = await cnitool('gc', net, pod);
    expect(r.code).toBe(0);
    expect(await daemon.allocations()).toEqual([]);
    expect(pod.json('link show').map((l: any) => l.ifname)).toEqual(['lo']);
    expect(cached(net)).toEqual([]);
  });

  it('STATUS (1.1.0) reports ready, and code 50 with the daemon down', async () => {
    expect(await cnitool('status', net11, pod)).toMatchObject({ code: 0, stderr: '' });
    expect(pluginLog()).toMatch(/"cmd":"STATUS".*"msg":"ready"/);
    await daemon.stop();
    try {
      const down = await cnitool('status', net11, pod);
      expect(down.code).not.toBe(0);
      expect(down.stderr + down.stdout).toMatch(/tidepool daemon is not available/);
    } finally {
      await daemon.start();
    }
  });

  it('GC (1.1.0) DELs the cached attachment, and without a list of valid attachments releases nothing else', async () => {
    expect((await cnitool('add', net11, pod)).code).toBe(0);
    // An allocation libcni knows nothing about (made by another runtime): GC without a list must keep it.
    const other = JSON.stringify({
      cniVersion: '1.1.0',
      name: net11,
      type: 'tidepool',
      socket: daemon.socket,
    });
    const otherPod = Netns.create('cni');
    try {
      const added = await runPlugin(host, {
        command: 'ADD',
        containerId: 'other-runtime',
        netns: otherPod.path,
        ifname: 'eth0',
        stdin: other,
      });
      expect(added.code).toBe(0);
      expect(await daemon.allocations()).toHaveLength(2);
      const r = await cnitool('gc', net11, pod);
      expect(r.code).toBe(0);
      expect(pluginLog()).toMatch(/GC without a list of valid attachments: nothing released/);
      expect(await daemon.allocations()).toHaveLength(1); // the cached one was DELeted, the other kept
      expect(otherPod.json('link show').map((l: any) => l.ifname)).toEqual(['lo', 'eth0']);
    } finally {
      await otherPod.cleanup();
    }
  });
});
