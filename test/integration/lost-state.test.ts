// Lost state database (issue 11, defect 2): on an m5.4xlarge-class node of the sim cloud, 20 pods added by
// the real plugin (so the node really has their host veths, /32 routes and rules), the daemon stopped, its
// ipamd.db deleted (or truncated to 0 bytes), the daemon restarted. Then:
//  - 50 new ADDs get 50 distinct addresses, none held by the 20 running pods (today's main handed the
//    running pods' addresses out again);
//  - the 20 pods' allocations are rebuilt from the node, each with its exact address and veth;
//  - every other address the cloud shows on the node (the old warm pool, and a pod whose rule is missing so
//    the node does not prove it) is quarantined: out of the pool, until the grace ends, then free;
//  - a recovered pod deleted by the plugin's DEL is released (the orphan audit, its veth gone).
// Everything runs in namespaces this test creates (tp-lost-*); the daemon runs inside the host namespace.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startCniDaemon, type CniDaemon } from '../helpers/cni-daemon.js';
import { runPlugin, type Invocation } from '../helpers/cni-plugin.js';
import { Netns } from '../helpers/netns.js';

const PODS = 20;
const NEW_ADDS = 50;

interface Pod {
  name: string;
  ns: Netns;
  inv: Invocation;
  result: any;
  ip: string;
  veth: string;
}

class Lab {
  host!: Netns;
  daemon!: CniDaemon;
  dir = '';
  pods: Pod[] = [];

  async start(): Promise<void> {
    // Made here, not at collection: a case filtered out by -t runs no afterAll to remove it.
    this.dir = mkdtempSync(join(tmpdir(), 'tp-lost-'));
    this.host = Netns.create('lost');
    this.daemon = await startCniDaemon(this.host, {
      instanceType: 'm5.4xlarge',
      env: {
        // The default warm pool (WARM_ENI_TARGET=1): a whole interface of free addresses beside the pods.
        WARM_IP_TARGET: '0',
        MINIMUM_IP_TARGET: '0',
        IP_COOLDOWN_PERIOD: '1',
        TIDEPOOL_RELEASE_ORPHANS: 'true',
        TIDEPOOL_ORPHAN_AUDIT_MS: '300',
        TIDEPOOL_ORPHAN_GRACE_MS: '1000',
        // Long enough that nothing leaves the quarantine during the test's ADDs; shortened later.
        TIDEPOOL_QUARANTINE_MS: '3600000',
      },
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

  /** A plugin ADD; throws with the plugin's answer when it fails. */
  async add(name: string): Promise<Pod> {
    const ns = Netns.create('lost');
    const inv: Invocation = {
      command: 'ADD',
      containerId: `cid-${name}`,
      netns: ns.path,
      ifname: 'eth0',
      args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_UID=uid-${name}`,
      stdin: this.conf(),
    };
    const r = await runPlugin(this.host, inv);
    const pod: Pod = { name, ns, inv, result: r.json, ip: '', veth: '' };
    this.pods.push(pod);
    if (r.code !== 0) throw new Error(`ADD ${name}: exit ${r.code}: ${r.stdout} ${r.stderr}`);
    pod.ip = r.json.ips[0].address.split('/')[0];
    pod.veth = r.json.interfaces[0].name;
    return pod;
  }

  /** ADDs in small concurrent batches (as a kubelet starting several pods); failures are collected. */
  async addMany(prefix: string, n: number): Promise<{ pods: Pod[]; failures: string[] }> {
    const pods: Pod[] = [];
    const failures: string[] = [];
    for (let i = 0; i < n; i += 5)
      await Promise.all(
        Array.from({ length: Math.min(5, n - i) }, (_, j) =>
          this.add(`${prefix}-${i + j}`).then(
            (p) => pods.push(p),
            (err: Error) => failures.push(err.message),
          ),
        ),
      );
    return { pods, failures };
  }

  del(pod: Pod) {
    return runPlugin(this.host, { ...pod.inv, command: 'DEL', stdin: this.conf({ prevResult: pod.result }) });
  }

  async get(path: string): Promise<any> {
    const r = await this.host.exec(['curl', '-sf', '--max-time', '5', path]);
    if (r.code !== 0) throw new Error(`curl ${path}: exit ${r.code}`);
    return path.endsWith('/metrics') ? r.stdout : JSON.parse(r.stdout);
  }

  introspect(path: string): Promise<any> {
    return this.get(`${this.daemon.node.daemon.introspectionUrl}${path}`);
  }

  async addressStates(): Promise<Map<string, string>> {
    const ifaces = (await this.introspect('/v1/interfaces')) as {
      addresses: { address: string; state: string }[];
    }[];
    return new Map(ifaces.flatMap((i) => i.addresses).map((a) => [a.address, a.state]));
  }

  /** Secondary addresses the cloud shows on the node's interfaces now. */
  async cloudAddresses(): Promise<string[]> {
    const d = this.daemon.node.daemon;
    return (await d.sim.interfacesOf(d.instanceId)).flatMap((i) => i.addresses).sort();
  }

  async cleanup(): Promise<void> {
    await this.daemon?.cleanup();
    for (const p of this.pods) await p.ns.cleanup();
    await this.host?.cleanup();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

describe.each([
  ['deleted', (db: string) => rmSync(db)],
  ['truncated to 0 bytes', (db: string) => truncateSync(db, 0)],
  // With the whole state directory (node-epoch.json too): the node's veths alone tell a lost state.
  ['deleted with its directory', (db: string) => rmSync(dirname(db), { recursive: true })],
])('the state database %s while 20 pods run', (_what, lose) => {
  const lab = new Lab();
  afterAll(() => lab.cleanup());

  it('rebuilds the 20 allocations from the node, quarantines the rest, and 50 new ADDs get no running pod address', async () => {
    await lab.start();
    // Asserted after the duplicates, so that a daemon without recovery fails on what matters.
    const firstStart = await lab.introspect('/v1/recovery').catch((err: Error) => err.message);
    const running = await lab.addMany('run', PODS);
    expect(running.failures).toEqual([]);
    const pods = running.pods;
    // A pod the node cannot prove: its `to <ip> lookup main` rule is gone (the cloud still shows its address).
    const broken = await lab.add('broken');
    lab.host.sh(`ip rule del to ${broken.ip} priority 512`);
    const podIps = pods.map((p) => p.ip);
    expect(new Set(podIps).size).toBe(PODS);
    // The daemon's pool holds at least the warm target beyond the pods, all of it shown by the cloud.
    // (polled: the pool tops itself up in the background after the last ADD).
    const cloudBefore = await until('the warm pool topped up', async () => {
      const c = await lab.cloudAddresses();
      return c.length >= PODS + 1 + 29 ? c : undefined;
    });
    expect(cloudBefore).toEqual(expect.arrayContaining([...podIps, broken.ip]));

    await lab.daemon.stop();
    const db = join(lab.daemon.node.daemon.stateDir, 'ipamd.db');
    lose(db);
    rmSync(`${db}-wal`, { force: true });
    rmSync(`${db}-shm`, { force: true });
    await lab.daemon.start();

    // 50 new pods: all set up, every address distinct, none a running pod's, none the cloud showed before
    // (a plugin ADD handed a running pod's address fails on its route, so failures are duplicates too).
    const added = await lab.addMany('new', NEW_ADDS);
    const fresh = added.pods;
    const freshIps = fresh.map((p) => p.ip);
    const duplicates = freshIps.filter((ip, i) => freshIps.indexOf(ip) !== i || podIps.includes(ip));
    expect({ duplicates, failures: added.failures }).toEqual({ duplicates: [], failures: [] });
    expect(freshIps.filter((ip) => cloudBefore.includes(ip))).toEqual([]);
    // And the running pods' addresses are still the node's in the cloud (none released as excess).
    expect(await lab.cloudAddresses()).toEqual(expect.arrayContaining([...podIps, broken.ip]));

    expect(firstStart).toMatchObject({ mode: 'first-start' });

    // The 20 pods' allocations, rebuilt from the node: exact addresses and veths.
    const rec = await lab.introspect('/v1/recovery');
    expect(rec.mode).toBe('lost-state');
    expect(rec.reasons.join('; ')).toContain(`the node has ${PODS + 1} Tidepool host veths`);
    const recovered = new Map<string, string>(
      rec.recovered.map((r: { address: string; veth: string }) => [r.address, r.veth]),
    );
    expect(recovered).toEqual(new Map(pods.map((p) => [p.ip, p.veth])));
    // Everything else the cloud showed is quarantined: the old warm addresses and the broken pod's.
    const quarantined = sorted(rec.quarantined.map((q: { address: string }) => q.address));
    expect(quarantined).toEqual(sorted(cloudBefore.filter((ip) => !podIps.includes(ip))));
    expect(quarantined).toContain(broken.ip);
    expect(rec.quarantinedAtStart.find((q: any) => q.address === broken.ip).why).toContain(
      `no rule "to ${broken.ip} lookup main" at 512`,
    );
    const states = await lab.addressStates();
    for (const ip of [...podIps, ...quarantined]) expect([ip, states.get(ip)]).toEqual([ip, 'assigned']);
    const metrics = await lab.get(`${lab.daemon.node.daemon.metricsUrl}/metrics`);
    expect(metrics).toMatch(new RegExp(`^tidepool_recovered_allocations_total ${PODS}$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^tidepool_quarantined_addresses ${quarantined.length}$`, 'm'));
    const log = readFileSync(join(lab.daemon.node.dir, 'daemon.log'), 'utf8');
    expect(log).toContain(
      `lost state recovered: ${PODS} allocations proven by the node, ${quarantined.length} addresses quarantined`,
    );
    const allocations = await lab.daemon.allocations();
    expect(new Set(allocations).size).toBe(allocations.length);

    // A recovered pod deleted by the plugin: its veth and route go, the recovery's audit releases it.
    const gone = pods[0];
    expect((await lab.del(gone)).code).toBe(0);
    await until('the recovered allocation released', async () =>
      (await lab.daemon.allocations()).includes(gone.ip) ? undefined : true,
    );
    expect(['cooling', 'free']).toContain((await lab.addressStates()).get(gone.ip));
    expect(await lab.get(`${lab.daemon.node.daemon.metricsUrl}/metrics`)).toMatch(
      /^tidepool_recovered_released_total 1$/m,
    );

    // The quarantine is in the store: a restart with a grace already over frees every quarantined address,
    // while the recovered pods keep theirs.
    await lab.daemon.stop();
    lab.daemon.node.daemon.env.TIDEPOOL_QUARANTINE_MS = '1000';
    await lab.daemon.start();
    await until('the quarantine over', async () =>
      (await lab.introspect('/v1/recovery')).quarantined.length === 0 ? true : undefined,
    );
    const after = await lab.introspect('/v1/recovery');
    expect(after.mode).toBe('normal');
    expect(sorted(after.recovered.map((r: { address: string }) => r.address))).toEqual(
      sorted(podIps.slice(1)),
    );
    const statesAfter = await lab.addressStates();
    // Free again (cooling first), or already handed back to the cloud as beyond the warm target.
    for (const ip of quarantined) expect([ip, statesAfter.get(ip)]).not.toEqual([ip, 'assigned']);
    expect(await lab.get(`${lab.daemon.node.daemon.metricsUrl}/metrics`)).toMatch(
      new RegExp(`^tidepool_quarantine_released_total ${quarantined.length}$`, 'm'),
    );
    // Nothing of the host namespace was left to chance: the node still routes every pod to its own veth.
    const routes = execFileSync('ip', ['-n', lab.host.name, 'route', 'show'], { encoding: 'utf8' });
    for (const p of [...pods.slice(1), ...fresh]) expect(routes).toContain(`${p.ip} dev ${p.veth}`);
  }, 300_000);
});
