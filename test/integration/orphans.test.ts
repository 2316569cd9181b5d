// Orphan release end to end (issue 3, ARCHITECTURE section 2): a pod deleted while the daemon is down is
// torn down by the real plugin from prevResult; the real daemon, once back, finds the pod's host veth gone
// and releases the address (it cools down as after a DEL), while a pod whose veth still exists keeps its
// allocation. With TIDEPOOL_RELEASE_ORPHANS=false (and auto while the daemon does not manage the host
// network) nothing is released. Everything runs in namespaces this test creates (tp-orphan-*).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, ConfigError } from '../../config/settings.js';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { runPlugin, type Invocation } from '../helpers/cni-plugin.js';
import { Netns } from '../helpers/netns.js';

const AUDIT_MS = 300;
const GRACE_MS = 1500;

interface Pod {
  ns: Netns;
  inv: Invocation;
  result: any;
  ip: string;
  veth: string;
}

/** One host namespace with a daemon in it, pods added through the real plugin. */
class Lab {
  host!: Netns;
  daemon!: CniDaemon;
  dir = mkdtempSync(join(tmpdir(), 'tp-orphan-'));
  pods: Pod[] = [];

  async start(env: Record<string, string>): Promise<void> {
    this.host = Netns.create('orphan');
    this.daemon = await startCniDaemon(this.host, {
      env: { TIDEPOOL_ORPHAN_AUDIT_MS: String(AUDIT_MS), TIDEPOOL_ORPHAN_GRACE_MS: String(GRACE_MS), ...env },
    });
  }

  conf(extra: object = {}): string {
    return JSON.stringify({
      cniVersion: '1.0.0',
      name: 'tidepool',
      type: 'tidepool',
      socket: this.daemon.socket,
      logFile: join(this.dir, 'plugin.log'),
      ...extra,
    });
  }

  async add(name: string): Promise<Pod> {
    const ns = Netns.create('orphan');
    const inv: Invocation = {
      command: 'ADD',
      containerId: `cid-${name}`,
      netns: ns.path,
      ifname: 'eth0',
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_UID=uid-${name}`,
      stdin: this.conf(),
    };
    const r = await runPlugin(this.host, inv);
    const pod = { ns, inv, result: r.json, ip: '', veth: '' };
    this.pods.push(pod);
    expect(r.json).toMatchObject({ ips: [expect.anything()] });
    expect(r.code).toBe(0);
    pod.ip = r.json.ips[0].address.split('/')[0];
    pod.veth = r.json.interfaces[0].name;
    return pod;
  }

  del(pod: Pod) {
    return runPlugin(this.host, { ...pod.inv, command: 'DEL', stdin: this.conf({ prevResult: pod.result }) });
  }

  hostLinks(): string[] {
    return this.host.json('link show').map((l: any) => l.ifname as string);
  }

  async introspect(path: string): Promise<any> {
    const r = await this.host.exec([
      'curl',
      '-sf',
      '--max-time',
      '5',
      `${this.daemon.node.daemon.introspectionUrl}${path}`,
    ]);
    if (r.code !== 0) throw new Error(`curl ${path}: exit ${r.code}`);
    return JSON.parse(r.stdout);
  }

  async addressState(ip: string): Promise<string | undefined> {
    const ifaces = (await this.introspect('/v1/interfaces')) as {
      addresses: { address: string; state: string }[];
    }[];
    return ifaces.flatMap((i) => i.addresses).find((a) => a.address === ip)?.state;
  }

  daemonLog(): string {
    return readFileSync(join(this.daemon.node.dir, 'daemon.log'), 'utf8');
  }

  async cleanup(): Promise<void> {
    await this.daemon?.cleanup();
    for (const p of this.pods) await p.ns.cleanup();
    await this.host?.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('orphan release: a pod deleted while the daemon is down', () => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  it('is released after the grace once its host veth is gone; a pod with its veth keeps its allocation', async () => {
    await lab.start({ TIDEPOOL_RELEASE_ORPHANS: 'true' });
    const gone = await lab.add('gone');
    const kept = await lab.add('kept');
    expect(await lab.daemon.allocations()).toEqual(expect.arrayContaining([gone.ip, kept.ip]));
    expect(lab.hostLinks()).toEqual(expect.arrayContaining([gone.veth, kept.veth]));

    await lab.daemon.stop(); // SIGTERM: the daemon is down
    const del = await lab.del(gone);
    expect(del.code).toBe(0);
    expect(lab.hostLinks()).not.toContain(gone.veth);
    expect(lab.hostLinks()).toContain(kept.veth);
    // Nothing could release it: the allocation is still in the stopped daemon's store.

    await lab.daemon.start();
    await until('the orphan released', async () =>
      (await lab.daemon.allocations()).includes(gone.ip) ? undefined : true,
    );
    expect(await lab.addressState(gone.ip)).toBe('cooling');
    const log = lab.daemonLog();
    expect(log).toMatch(new RegExp(`"veth":"${gone.veth}".*released an orphaned allocation`));
    expect(log).not.toContain(kept.veth);
    // Several more audits: the pod whose veth exists is never touched.
    await new Promise((r) => setTimeout(r, AUDIT_MS * 6));
    expect(await lab.daemon.allocations()).toContain(kept.ip);
    expect(await lab.daemon.allocations()).not.toContain(gone.ip);
    const metrics = await lab.host.exec(['curl', '-sf', `${lab.daemon.node.daemon.metricsUrl}/metrics`]);
    expect(metrics.stdout).toMatch(/^tidepool_orphans_released_total 1$/m);

    // The kept pod is still deleted normally afterwards, through the daemon.
    expect((await lab.del(kept)).code).toBe(0);
    expect(await lab.daemon.allocations()).not.toContain(kept.ip);
  }, 90_000);
});

describe.each([
  ['false', 'TIDEPOOL_RELEASE_ORPHANS=false'],
  ['auto', 'auto while the daemon does not manage the host network'],
])('orphan release %s', (setting, what) => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  it(`releases nothing (${what}), even after kill -9 and a DEL with the daemon down`, async () => {
    await lab.start({ TIDEPOOL_RELEASE_ORPHANS: setting, TIDEPOOL_ORPHAN_GRACE_MS: '0' });
    const pod = await lab.add('stays');
    lab.daemon.node.daemon.proc.kill('SIGKILL');
    await lab.daemon.node.daemon.proc.exited;
    expect((await lab.del(pod)).code).toBe(0);
    expect(lab.hostLinks()).not.toContain(pod.veth);
    await lab.daemon.start();
    // Ten audit periods (and no grace): an enabled audit would have released it many times over.
    await new Promise((r) => setTimeout(r, AUDIT_MS * 10));
    expect(await lab.daemon.allocations()).toContain(pod.ip);
    expect(await lab.addressState(pod.ip)).toBe('assigned');
    expect(lab.daemonLog()).not.toContain('orphan');
  }, 90_000);
});

describe('TIDEPOOL_RELEASE_ORPHANS setting', () => {
  it('follows TIDEPOOL_MANAGE_HOST_NETWORK when auto, and refuses other values by name', () => {
    expect(loadSettings({}).network.releaseOrphans).toBe(true);
    expect(loadSettings({ TIDEPOOL_MANAGE_HOST_NETWORK: 'false' }).network.releaseOrphans).toBe(false);
    expect(
      loadSettings({ TIDEPOOL_MANAGE_HOST_NETWORK: 'false', TIDEPOOL_RELEASE_ORPHANS: 'true' }).network
        .releaseOrphans,
    ).toBe(true);
    expect(loadSettings({ TIDEPOOL_RELEASE_ORPHANS: 'false' }).network.releaseOrphans).toBe(false);
    expect(loadSettings({}).network).toMatchObject({ orphanAuditMs: 60_000, orphanGraceMs: 60_000 });
    let err: unknown;
    try {
      loadSettings({ TIDEPOOL_RELEASE_ORPHANS: 'sometimes', TIDEPOOL_ORPHAN_AUDIT_MS: '5' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.variable).sort()).toEqual([
      'TIDEPOOL_ORPHAN_AUDIT_MS',
      'TIDEPOOL_RELEASE_ORPHANS',
    ]);
    expect((err as Error).message).toContain('must be one of auto, true, false');
  });
});
