// A real CRI runtime as the caller: containerd 1.6 + runc (Debian) runs a pod sandbox through the CRI with
// a conflist chaining tidepool, portmap and bandwidth, then stops and removes it — which makes containerd
// send DEL twice (the second time with no netns and no prevResult). Afterwards no veth, rule, route,
// iptables rule or allocation is left. containerd, the daemon and therefore every plugin run inside the
// test's host namespace.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { assertSelfContained, PLUGIN } from '../helpers/cni-plugin.js';
import { Containerd } from '../helpers/cri-containerd.js';
import { Netns } from '../helpers/netns.js';

describe('containerd 1.6 CRI runs a pod sandbox on tidepool', () => {
  let host: Netns;
  let daemon: CniDaemon;
  let containerd: Containerd;
  let dir: string;
  const pluginLog = () =>
    existsSync(join(dir, 'plugin.log')) ? readFileSync(join(dir, 'plugin.log'), 'utf8') : '';
  const entries = () =>
    pluginLog()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>);

  beforeAll(async () => {
    // containerd runs with no node on its PATH (test/helpers/cri-containerd.ts), so the plugin's own.
    assertSelfContained(PLUGIN);
    host = Netns.create('cni');
    host.sh('sysctl -qw net.ipv4.ip_forward=1 && ip addr add 198.51.100.1/32 dev lo');
    dir = mkdtempSync(join(tmpdir(), 'tp-cni-cri-'));
    daemon = await startCniDaemon(host);
    containerd = await Containerd.start(host, {
      plugins: {
        tidepool: PLUGIN,
        portmap: '/usr/lib/cni/portmap',
        bandwidth: '/usr/lib/cni/bandwidth',
      },
      conflist: {
        cniVersion: '1.0.0',
        name: 'tidepool',
        plugins: [
          { type: 'tidepool', socket: daemon.socket, logFile: join(dir, 'plugin.log'), logLevel: 'debug' },
          { type: 'portmap', capabilities: { portMappings: true }, snat: true },
          { type: 'bandwidth', capabilities: { bandwidth: true } },
        ],
      },
    });
  }, 120_000);
  afterAll(async () => {
    await containerd?.stop();
    await daemon?.cleanup();
    await host?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is containerd 1.6 speaking CRI v1', async () => {
    expect(await containerd.cri.version()).toMatchObject({
      runtime_name: 'containerd',
      runtime_api_version: 'v1',
    });
  });

  it('runs, stops and removes a sandbox: the pod gets a daemon address, two DELs leave nothing behind', async () => {
    // portmap keeps its shared base chains once created: nftables is compared for our pod's rules below.
    const before = host.snapshot({ nft: false });
    const id = await containerd.cri.runPodSandbox({
      name: 'web-1',
      namespace: 'default',
      uid: 'uid-web-1',
      portMappings: [{ protocol: 'TCP', container_port: 80, host_port: 18080 }],
      annotations: { 'kubernetes.io/ingress-bandwidth': '10M' },
    });
    const status = await containerd.cri.podSandboxStatus(id);
    expect(status.state).toBe('SANDBOX_READY');
    const ip = status.network!.ip;
    expect(await daemon.allocations()).toEqual([ip]);

    // What ADD got from containerd, and what it built.
    const add = entries().find((e) => e.cmd === 'ADD' && e.msg === 'pod network set up')!;
    expect(add).toMatchObject({ containerId: id, ifname: 'eth0', pod: 'default/web-1', address: ip });
    expect(add.netns).toMatch(/^\/var\/run\/netns\/cni-/);
    const veth = 'eni' + createHash('sha1').update('default.web-1').digest('hex').slice(0, 11);
    expect(add.hostVeth).toBe(veth);
    expect(host.json(`route show ${ip}/32`)).toEqual([expect.objectContaining({ dev: veth })]);
    expect(host.json('rule show')).toEqual(
      expect.arrayContaining([expect.objectContaining({ priority: 512, dst: ip })]),
    );
    // The chained plugins found our host veth and the pod address in our result.
    expect(host.sh(`tc qdisc show dev ${veth}`)).toMatch(/tbf/);
    expect(host.sh('iptables-save -t nat')).toMatch(
      new RegExp(`--dport 18080 .*--to-destination ${ip.replace(/\./g, '\\.')}:80`),
    );
    // The pod answers through the datapath.
    expect((await host.exec(['ping', '-c', '1', '-W', '2', ip])).code).toBe(0);

    await containerd.cri.stopPodSandbox(id);
    await containerd.cri.removePodSandbox(id);
    const dels = entries().filter((e) => e.cmd === 'DEL' && e.msg === 'datapath torn down');
    expect(dels).toHaveLength(2);
    expect(dels[0].netns).toBe(add.netns); // StopPodSandbox: netns and prevResult
    expect(dels[1].netns).toBeUndefined(); // RemovePodSandbox: neither
    expect(
      entries()
        .filter((e) => e.cmd === 'DEL' && e.msg === 'release')
        .map((e) => e.released),
    ).toEqual([true, false]);

    expect(host.snapshot({ nft: false })).toEqual(before);
    const nat = host.sh('iptables-save -t nat');
    expect(nat).not.toMatch(/18080/);
    expect(nat).not.toContain(ip);
    expect(await daemon.allocations()).toEqual([]);
    expect(existsSync(add.netns)).toBe(false);
    expect(await containerd.cri.listPodSandbox()).toEqual([]);
  });
});
