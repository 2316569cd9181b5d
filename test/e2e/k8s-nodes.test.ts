// The cluster lab end to end: `tidepoolctl lab up --kubernetes --nodes 3 --kubelets 2` brings up a real
// control plane, a containerd and a kubelet on node-1 and node-2 (each in its own mount namespace) and the
// chart's DaemonSet, waits until both nodes serve, and exits. On it:
// - a Deployment of 20 pods of the locally built web image spreads across the two nodes, every pod Running
//   and Ready (the kubelet's HTTP readiness probe) with an address the cloud assigned to an interface of
//   its own node and that its node's daemon holds for it; pods reach pods on the other node, and the lab's
//   internet, whose whoami answers with the pod's node's primary address (SNAT);
// - node-3 joins while the cloud refuses to assign addresses: it registers with the startup taint and
//   condition tidepool.io/NetworkReady False with its reason, and a pod for it stays Pending; when the cloud
//   answers again the taint goes, the condition turns True and the pod runs there;
// - with node-2's kubelet stopped, stopping its daemon turns the condition False; a pod deleted while the
//   daemon is down has its address released by the daemon's pod-list GC once it runs again;
// - `lab down` leaves no process, namespace (the pods' cni-* ones included), mount or mount point, and the
//   machine's vm.overcommit_memory, kernel.panic and kernel.panic_on_oops are what they were.
// Figures (time to 20 Running, node join, GC) are printed in the log. Needs the Kubernetes binaries and
// `npm run build` (the chart's image is built from dist/).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlPlaneFor, NETWORK_READY, nodeViews } from '../../lab/k8s/lab.js';
import {
  crictlArgv,
  mountPointsEverywhere,
  NODE_PATHS,
  startKubelet,
  stopKubelet,
} from '../../lab/k8s/node.js';
import { WEB_IMAGE, WEB_PORT } from '../../lab/k8s/images.js';
import { spreadDeployment } from '../../lab/k8s/workloads.js';
import { readManifest, writeManifest, type Manifest, type NodeRecord } from '../../lab/manifest.js';
import { simRequest, simSocket } from '../../lab/sim-cloud.js';
import { INTERNET_SERVER, WHOAMI_PORT } from '../../lab/topology.js';
import { until } from '../helpers/cluster-lab.js';
import { Lab, labProcesses, namespacesWithPrefix, run } from '../helpers/lab.js';

const SYSCTLS = ['vm.overcommit_memory', 'kernel.panic', 'kernel.panic_on_oops'];
const sysctls = () => SYSCTLS.map((k) => execFileSync('sysctl', ['-n', k], { encoding: 'utf8' }).trim());
const rootMounts = () =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter(Boolean);
const log = (msg: string) => process.stderr.write(`k8s-nodes: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the cluster lab: kubelets with containerd on lab nodes, Tidepool as their CNI', () => {
  const prefix = `tk-n${randomBytes(2).toString('hex')}-`;
  const lab = new Lab(prefix);
  let m: Manifest;
  let before: { sysctls: string[]; mounts: string[]; paths: boolean[] };
  const kubectl = (args: string[], input?: string) => controlPlaneFor(m).kc(args, input);
  const json = (args: string[]) => JSON.parse(kubectl([...args, '-o', 'json']));
  const node = (name: string) => m.nodes.find((n) => n.name === name)!;
  const inNodeNet = (n: NodeRecord, cmd: string[]) =>
    execFileSync('nsenter', [`--net=/run/netns/${n.netns}`, '--', ...cmd], {
      encoding: 'utf8',
      timeout: 30_000,
    });
  const allocations = (n: NodeRecord): { address: string; pod: { namespace: string; name: string } }[] => {
    const out = JSON.parse(inNodeNet(n, ['curl', '-sf', 'http://127.0.0.1:61679/v1/allocations']));
    return Array.isArray(out) ? out : (out.allocations ?? []);
  };
  const pods = (selector: string) =>
    json(['get', 'pods', '-l', selector]).items as {
      metadata: { name: string };
      spec: { nodeName?: string };
      status: { phase: string; podIP?: string; conditions?: { type: string; status: string }[] };
    }[];

  beforeAll(async () => {
    before = {
      sysctls: sysctls(),
      mounts: rootMounts(),
      paths: NODE_PATHS.map((p) => existsSync(p)),
    };
    const t0 = Date.now();
    // run() resolves when the CLI exits: `lab up --kubernetes` must return once the cluster serves.
    const up = await lab.run(
      ['up', '--kubernetes', '--nodes', '3', '--kubelets', '2', '--env', 'TIDEPOOL_POD_GONE_GRACE_MS=5000'],
      900_000,
    );
    log(
      `lab up --kubernetes --nodes 3 --kubelets 2: exit ${up.code} after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (up.code !== 0) throw new Error(`lab up failed:\n${up.stderr}`);
    expect(up.stderr).toContain('lab kubectl');
    m = readManifest(lab.stateDir);
  }, 960_000);

  afterAll(async () => {
    const down = await lab.down();
    if (down.code !== 0) log(`lab down: ${down.stderr}`);
  }, 300_000);

  it('has node-1 and node-2 Ready, untainted, NetworkReady, each a machine of its own', () => {
    const views = nodeViews(controlPlaneFor(m));
    expect(views.map((v) => v.name).sort()).toEqual(['node-1', 'node-2']);
    for (const v of views) {
      expect(v).toMatchObject({
        ready: true,
        tainted: false,
        networkReady: { status: 'True', reason: 'PoolReady' },
      });
      const n = node(v.name);
      const obj = json(['get', 'node', v.name]);
      expect(obj.spec.providerID).toBe(`aws:///${n.zone}/${n.instanceId}`);
      expect(obj.status.addresses).toContainEqual({ type: 'InternalIP', address: n.primaryAddress });
    }
    // The chart's DaemonSet runs the daemon on both, from the chart's image, hostNetwork.
    const ds = json(['get', 'pods', '-n', 'kube-system', '-l', 'app.kubernetes.io/name=tidepool']).items;
    expect(ds.map((p: any) => p.spec.nodeName).sort()).toEqual(['node-1', 'node-2']);
    for (const p of ds) {
      expect(p.status.phase).toBe('Running');
      expect(p.status.podIP).toBe(node(p.spec.nodeName).primaryAddress);
      expect(p.spec.containers[0].image).toBe('localhost/tidepool:0.1.0');
    }
    // No lab daemon of its own on the nodes: only the DaemonSet's.
    expect(m.resources.some((r) => r.kind === 'process' && r.name.startsWith('ipamd-'))).toBe(false);
    // The node's fixed paths are mounts in its own mount namespace only: the root namespace gained only
    // the lab's network namespaces and the nodes' mount-namespace files.
    // (Other labs on the machine may add theirs meanwhile: only ours and the fixed paths are looked at.)
    const now = rootMounts();
    expect(now.filter((t) => t.startsWith(lab.stateDir + '/')).sort()).toEqual(
      [join(node('node-1').dir, 'mntns'), join(node('node-2').dir, 'mntns')].sort(),
    );
    for (const p of NODE_PATHS) if (!before.mounts.includes(p)) expect(now).not.toContain(p);
    expect(now.filter((t) => t.startsWith('/proc/sys'))).toEqual([]);
    for (const n of [node('node-1'), node('node-2')]) {
      const inside = execFileSync('nsenter', [`--mount=${n.kube!.mntns}`, 'cat', '/proc/self/mountinfo'], {
        encoding: 'utf8',
      });
      for (const p of ['/var/lib/kubelet', '/etc/cni/net.d', '/run/tidepool', '/proc/sys/kernel/panic'])
        expect(inside).toContain(` ${p} `);
      // The daemon wrote the conflist into this node's CNI directory, and the init container the plugin.
      expect(existsSync(join(n.kube!.fsRoot, 'etc/cni/net.d/10-tidepool.conflist'))).toBe(true);
      expect(existsSync(join(n.kube!.fsRoot, 'opt/cni/bin/tidepool'))).toBe(true);
    }
    expect(sysctls()).toEqual(before.sysctls);
  });

  it('runs a Deployment of 20 web pods across both nodes with VPC addresses of their node', async () => {
    const t0 = Date.now();
    kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(
        spreadDeployment({
          name: 'web',
          replicas: 20,
          image: WEB_IMAGE,
          port: WEB_PORT,
          readinessPath: '/',
          honorTaints: true,
        }),
      ),
    );
    const ready = await until(
      '20 web pods Running and Ready',
      () => {
        const ps = pods('app=web');
        const ok = ps.filter(
          (p) =>
            p.status.phase === 'Running' &&
            p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ok.length === 20 && ps.length === 20 ? ps : undefined;
      },
      300_000,
    );
    log(`20 web pods Running and Ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const byNode = new Map<string, number>();
    for (const p of ready) byNode.set(p.spec.nodeName!, (byNode.get(p.spec.nodeName!) ?? 0) + 1);
    expect([...byNode.keys()].sort()).toEqual(['node-1', 'node-2']);
    log(`pods per node: ${JSON.stringify(Object.fromEntries(byNode))}`);

    // Each address is one the cloud assigned to an interface of the pod's node (the fabric's view of the
    // sim), held by that node's daemon for that pod; no two pods share one.
    const status = await lab.status();
    const ips = ready.map((p) => p.status.podIP!);
    expect(new Set(ips).size).toBe(20);
    const held = new Map(['node-1', 'node-2'].map((n) => [n, allocations(node(n))]));
    for (const p of ready) {
      const n = node(p.spec.nodeName!);
      const owned = status.interfaces
        .filter((i: any) => i.instanceId === n.instanceId)
        .flatMap((i: any) => i.addresses as string[]);
      expect(owned).toContain(p.status.podIP);
      expect(p.status.podIP).not.toBe(n.primaryAddress);
      const a = held.get(n.name)!.find((x) => x.address === p.status.podIP);
      expect(a).toBeDefined();
      expect(a!.pod).toMatchObject({ namespace: 'default', name: p.metadata.name });
      // The pod's network namespace is in its node's own /run/netns, not the machine's.
      const netns = (a!.pod as { netns?: string }).netns!;
      expect(netns).toMatch(/^\/var\/run\/netns\/cni-/);
      expect(existsSync(join(n.kube!.fsRoot, 'run/netns', netns.split('/').pop()!))).toBe(true);
      expect(existsSync(join('/run/netns', netns.split('/').pop()!))).toBe(false);
    }
    (globalThis as any).webPods = ready;
  }, 360_000);

  it('carries pod-to-pod traffic across nodes, and pods reach the internet through SNAT', () => {
    const ready = (globalThis as any).webPods as ReturnType<typeof pods>;
    const on = (n: string) => ready.filter((p) => p.spec.nodeName === n);
    for (const [from, to] of [
      [on('node-1')[0], on('node-2')[0]],
      [on('node-2')[1], on('node-1')[1]],
    ]) {
      const page = kubectl([
        'exec',
        from.metadata.name,
        '--',
        'wget',
        '-qO-',
        `http://${to.status.podIP}:${WEB_PORT}/`,
      ]);
      expect(page).toBe('tidepool web\n');
    }
    // From the node itself (the kubelet's probes take this path too).
    const page = inNodeNet(node('node-1'), [
      'curl',
      '-sf',
      `http://${on('node-2')[2].status.podIP}:${WEB_PORT}/`,
    ]);
    expect(page).toBe('tidepool web\n');
    for (const n of ['node-1', 'node-2']) {
      const seen = kubectl([
        'exec',
        on(n)[0].metadata.name,
        '--',
        'sh',
        '-c',
        `echo | nc -w 5 ${INTERNET_SERVER} ${WHOAMI_PORT}`,
      ]).trim();
      expect(seen).toBe(node(n).primaryAddress);
    }
  });

  it('keeps a new node tainted and NetworkReady False until its pool can serve, then schedules on it', async () => {
    const sim = simSocket(m);
    const refuse = { probability: 1, error: 'unauthorized' };
    await simRequest(sim, 'PUT', '/faults', {
      AssignPrivateIpAddresses: refuse,
      CreateNetworkInterface: refuse,
      AttachNetworkInterface: refuse,
      AssignIpv6Addresses: refuse,
    });
    let join: Promise<unknown> | undefined;
    try {
      const t0 = Date.now();
      join = lab.run(['join', 'node-3'], 600_000);
      const pending = await until(
        'node-3 registered with its NetworkReady condition',
        () => nodeViews(controlPlaneFor(m)).find((v) => v.name === 'node-3' && v.networkReady),
        300_000,
      );
      log(
        `node-3 registered and reported ${JSON.stringify(pending.networkReady)} after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      kubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'on-node-3', labels: { app: 'on-node-3' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            nodeSelector: { 'kubernetes.io/hostname': 'node-3' },
            containers: [{ name: 'web', image: WEB_IMAGE, imagePullPolicy: 'Never' }],
          },
        }),
      );
      // For a while (the daemon runs and retries the cloud): still tainted, False with its reason, no pod.
      for (let i = 0; i < 10; i++) {
        await sleep(1_000);
        const v = nodeViews(controlPlaneFor(m)).find((x) => x.name === 'node-3')!;
        expect(v.tainted).toBe(true);
        expect(v.networkReady?.status).toBe('False');
        expect(v.networkReady?.reason).toBeTruthy();
        expect(v.networkReady?.reason).not.toBe('PoolReady');
        expect(pods('app=on-node-3')[0].spec.nodeName).toBeUndefined();
      }
      const v = nodeViews(controlPlaneFor(m)).find((x) => x.name === 'node-3')!;
      log(`node-3 while the cloud refuses: tainted, ${NETWORK_READY} ${JSON.stringify(v.networkReady)}`);
      const sched = json(['get', 'pod', 'on-node-3']).status.conditions.find(
        (c: any) => c.type === 'PodScheduled',
      );
      expect(sched).toMatchObject({ status: 'False', reason: 'Unschedulable' });
      expect(sched.message).toContain('untolerated taint');

      const t1 = Date.now();
      await simRequest(sim, 'PUT', '/faults', {});
      const joined = (await join) as { code: number; stderr: string };
      m = readManifest(lab.stateDir);
      expect(joined.stderr).toContain('node-3 joined and serves');
      expect(joined.code).toBe(0);
      const p = await until(
        'the pod on node-3 Running',
        () => pods('app=on-node-3').find((x) => x.status.phase === 'Running' && x.status.podIP),
        180_000,
      );
      log(
        `node-3 served ${((Date.now() - t1) / 1000).toFixed(1)} s after the cloud answered again; pod at ${p.status.podIP}`,
      );
      expect(p.spec.nodeName).toBe('node-3');
      const owned = (await lab.status()).interfaces
        .filter((i: any) => i.instanceId === node('node-3').instanceId)
        .flatMap((i: any) => i.addresses as string[]);
      expect(owned).toContain(p.status.podIP);
    } finally {
      await simRequest(sim, 'PUT', '/faults', {}).catch(() => undefined);
      await join?.catch(() => undefined);
      m = readManifest(lab.stateDir);
    }
  }, 900_000);

  it('turns NetworkReady False when the daemon stops, and releases a pod deleted meanwhile once it is back', async () => {
    m = readManifest(lab.stateDir);
    const n = node('node-2');
    const crictl = (args: string[]) =>
      execFileSync(crictlArgv(n, args)[0], crictlArgv(n, args).slice(1), { encoding: 'utf8' });
    const victim = pods('app=web').find((p) => p.spec.nodeName === 'node-2' && p.status.podIP)!;
    const address = victim.status.podIP!;
    expect(allocations(n).map((a) => a.address)).toContain(address);

    // The kubelet stops first, so that nothing restarts the daemon or runs the pod's DEL for it.
    await stopKubelet(m, n);
    const daemon = crictl(['ps', '-q', '--name', '^tidepool$']).trim();
    expect(daemon).toMatch(/^[0-9a-f]{64}$/);
    crictl(['stop', '--timeout', '10', daemon]);
    const stopped = await until(
      'node-2 NetworkReady False',
      () => {
        const c = nodeViews(controlPlaneFor(m)).find((v) => v.name === 'node-2')?.networkReady;
        return c?.status === 'False' ? c : undefined;
      },
      60_000,
    );
    log(`node-2 with its daemon stopped: ${JSON.stringify(stopped)}`);
    expect(stopped.reason).toBe('DaemonStopping');

    // The pod goes while the daemon is down: its sandbox is removed (the plugin's DEL cannot reach the
    // daemon and tears down from prevResult) and the API forgets it.
    const sandbox = crictl(['pods', '-q', '--name', `^${victim.metadata.name}$`]).trim();
    expect(sandbox).toMatch(/^[0-9a-f]{64}$/);
    crictl(['rmp', '-f', sandbox]);
    kubectl(['delete', 'pod', victim.metadata.name, '--force', '--grace-period=0']);
    expect(
      (
        await run([
          'nsenter',
          `--net=/run/netns/${n.netns}`,
          'curl',
          '-sf',
          'http://127.0.0.1:61679/v1/allocations',
        ])
      ).code,
    ).not.toBe(0);

    const t0 = Date.now();
    startKubelet(m, n, controlPlaneFor(m), log);
    writeManifest(m);
    await until(
      'node-2 NetworkReady True again',
      () =>
        nodeViews(controlPlaneFor(m)).find((v) => v.name === 'node-2' && v.networkReady?.status === 'True'),
      300_000,
    );
    log(
      `node-2's daemon serves again ${((Date.now() - t0) / 1000).toFixed(1)} s after its kubelet restarted`,
    );
    await until(
      `the address ${address} of the deleted pod released`,
      () => {
        try {
          return !allocations(n).some((a) => a.address === address);
        } catch {
          return false;
        }
      },
      180_000,
    );
    log(
      `the deleted pod's address ${address} released ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart`,
    );
    const logs = kubectl([
      'logs',
      '-n',
      'kube-system',
      '-l',
      'app.kubernetes.io/name=tidepool',
      '--tail=-1',
      '--prefix',
    ]);
    expect(logs).toMatch(
      new RegExp(
        `released the address of a pod that is gone.*${address.replace(/\./g, '\\.')}|${address.replace(/\./g, '\\.')}.*released the address of a pod that is gone`,
      ),
    );
  }, 600_000);

  it('lab down removes everything and leaves the kernel settings as they were', async () => {
    const down = await lab.down();
    expect(down.stderr).not.toMatch(/error|failed/i);
    expect(down.code).toBe(0);
    expect(namespacesWithPrefix(prefix)).toEqual([]);
    expect(labProcesses(lab.stateDir)).toEqual([]);
    expect(existsSync(lab.stateDir)).toBe(false);
    expect(rootMounts().filter((t) => t.startsWith(lab.stateDir))).toEqual([]);
    // The mount points made for the nodes are gone, unless another lab's node mounts something there now
    // (the last lab to go removes them).
    const inUse = mountPointsEverywhere();
    for (const [i, p] of NODE_PATHS.entries())
      if (!before.paths[i] && existsSync(p))
        expect(`${p} in use by another mount namespace: ${inUse.has(p)}`).toBe(
          `${p} in use by another mount namespace: true`,
        );
    expect(sysctls()).toEqual(before.sysctls);
  }, 300_000);
});
