// CNI STATUS through a real CRI: containerd 2.4.2 (built from the Go module proxy by
// scripts/k8s/build-containerd.sh) answers the CRI Status call with NetworkReady from the conflist's plugins'
// STATUS (internal/cri/server/status.go → go-cni Status → libcni GetStatusNetworkList, for cniVersion ≥
// 1.1.0 only). With Tidepool's conflist at 1.1.0, NetworkReady follows the daemon: true while it serves,
// false (reason NetworkPluginNotReady, the plugin's "daemon is not available") once it is stopped, true
// again after it restarts; at cniVersion 1.0.0 libcni skips STATUS and NetworkReady stays true with the
// daemon down. The kubelet polls this condition every 5 s (pkg/kubelet/kubelet.go updateRuntimeUp) and sets
// the node NotReady and refuses new non-hostNetwork pods on it. containerd, the daemon and the plugin run
// inside the test's namespace; containerd 2.x runs here on cgroup v1 (with a deprecation warning).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { assertSelfContained, PLUGIN } from '../helpers/cni-plugin.js';
import { Containerd } from '../helpers/cri-containerd.js';
import { Netns } from '../helpers/netns.js';

const CONTAINERD2 = '/var/cache/tidepool/k8s/containerd/v2.4.2/bin';

describe('containerd 2.x: the CRI NetworkReady condition follows the plugin STATUS', () => {
  let host: Netns;
  let daemon: CniDaemon;
  let containerd: Containerd;
  let dir: string;
  const conflist = (cniVersion: string, statusGraceSeconds = 0) => ({
    cniVersion,
    name: 'tidepool',
    plugins: [
      {
        type: 'tidepool',
        socket: daemon.socket,
        logFile: join(dir, 'plugin.log'),
        logLevel: 'debug',
        statusGraceSeconds,
      },
    ],
  });
  /** Polls the CRI Status until NetworkReady is `want` (containerd runs STATUS on each call). */
  const networkReady = async (want: boolean) => {
    let last;
    for (let i = 0; i < 600; i++) {
      last = (await containerd.cri.conditionDetails()).NetworkReady;
      if (last.status === want) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`NetworkReady never became ${want}: ${JSON.stringify(last)}`);
  };

  beforeAll(async () => {
    if (!existsSync(join(CONTAINERD2, 'containerd')))
      throw new Error(
        `${CONTAINERD2}/containerd is missing: run scripts/setup.sh (scripts/k8s/build-containerd.sh)`,
      );
    assertSelfContained(PLUGIN);
    host = Netns.create('ctrd2');
    host.sh('sysctl -qw net.ipv4.ip_forward=1 && ip addr add 198.51.100.1/32 dev lo');
    dir = mkdtempSync(join(tmpdir(), 'tp-ctrd2-'));
    daemon = await startCniDaemon(host);
    containerd = await Containerd.start(host, {
      plugins: { tidepool: PLUGIN },
      conflist: conflist('1.1.0'),
      binDir: CONTAINERD2,
    });
  }, 180_000);
  afterAll(async () => {
    await containerd?.stop();
    await daemon?.cleanup();
    await host?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is containerd 2.4.2', async () => {
    expect(await containerd.cri.version()).toMatchObject({
      runtime_name: 'containerd',
      runtime_version: 'v2.4.2',
      runtime_api_version: 'v1',
    });
  });

  it('runs and removes a pod sandbox on tidepool (ADD and DEL through containerd 2.x)', async () => {
    const id = await containerd.cri.runPodSandbox({ name: 'web-2', namespace: 'default', uid: 'uid-web-2' });
    const status = await containerd.cri.podSandboxStatus(id);
    expect(status.state).toBe('SANDBOX_READY');
    expect(await daemon.allocations()).toEqual([status.network!.ip]);
    expect((await host.exec(['ping', '-c', '1', '-W', '2', status.network!.ip])).code).toBe(0);
    await containerd.cri.stopPodSandbox(id);
    await containerd.cri.removePodSandbox(id);
    expect(await daemon.allocations()).toEqual([]);
  }, 120_000);

  it('NetworkReady is true while the daemon serves, false while it is stopped, true after it restarts', async () => {
    await networkReady(true);
    // containerd asked the plugin itself: the plugin logged its STATUS answers.
    const statusLines = readFileSync(join(dir, 'plugin.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.cmd === 'STATUS');
    expect(statusLines.length).toBeGreaterThan(0);

    await daemon.stop();
    const down = await networkReady(false);
    expect(down.reason).toBe('NetworkPluginNotReady');
    expect(down.message).toContain('tidepool daemon is not available');

    await daemon.start();
    await networkReady(true);
  }, 120_000);

  it('at cniVersion 1.0.0 no STATUS is asked: NetworkReady stays true with the daemon stopped', async () => {
    writeFileSync(join(containerd.confDir, '10-test.conflist'), JSON.stringify(conflist('1.0.0')));
    await daemon.stop();
    try {
      // containerd reloads the conflist on change; give it time, then check it still says ready.
      await new Promise((r) => setTimeout(r, 3000));
      for (let i = 0; i < 10; i++) {
        expect((await containerd.cri.conditionDetails()).NetworkReady.status).toBe(true);
        await new Promise((r) => setTimeout(r, 200));
      }
      // And back to 1.1.0: STATUS is asked again, so the stopped daemon shows.
      writeFileSync(join(containerd.confDir, '10-test.conflist'), JSON.stringify(conflist('1.1.0')));
      await networkReady(false);
    } finally {
      await daemon.start();
    }
    await networkReady(true);
  }, 120_000);

  it('with statusGraceSeconds, a daemon restart inside the grace keeps NetworkReady true; a longer stop does not', async () => {
    const GRACE = 8;
    writeFileSync(join(containerd.confDir, '10-test.conflist'), JSON.stringify(conflist('1.1.0', GRACE)));
    await new Promise((r) => setTimeout(r, 1500)); // containerd reloads the conflist on change
    await networkReady(true);
    const stoppedAt = Date.now();
    await daemon.stop();
    try {
      // The beat the daemon left is at most 2 s old at its stop: the first 4 s are inside the grace.
      while (Date.now() - stoppedAt < 4000) {
        expect((await containerd.cri.conditionDetails()).NetworkReady.status).toBe(true);
        await new Promise((r) => setTimeout(r, 250));
      }
      const graceLines = readFileSync(join(dir, 'plugin.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('restart grace'));
      expect(graceLines.length).toBeGreaterThan(0);
      // Past the grace the stopped daemon shows.
      const down = await networkReady(false);
      expect(Date.now() - stoppedAt).toBeGreaterThan((GRACE - 2) * 1000);
      expect(down.message).toContain('tidepool daemon is not available');
    } finally {
      await daemon.start();
    }
    await networkReady(true);
    writeFileSync(join(containerd.confDir, '10-test.conflist'), JSON.stringify(conflist('1.1.0')));
  }, 120_000);
});
