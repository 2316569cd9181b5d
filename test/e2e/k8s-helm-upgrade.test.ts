// A `helm upgrade` of Tidepool on a live cluster loses no packet and disturbs no pod. On the cluster lab
// (`lab up --kubernetes --nodes 2`: real kubelets and containerd, the chart's DaemonSet as the CNI), 20 pods
// spread across the two nodes; a continuous ping (every 100 ms) runs from a pod on each node to a pod on
// the other, from inside the pods' network namespaces, while `helm upgrade` rolls the DaemonSet to a new
// build: another image tag of the same contents (imported into the nodes) and a changed value (the log
// level). Then:
// - both daemons were replaced (new pods, new image, new value) and the nodes serve again;
// - no workload pod restarted or changed its uid, node or address;
// - each node's state database was carried forward, not rebuilt: its schema version is not lower, and
//   every allocation row (network, container, address, allocated_at) is the same, so the new daemon adopted
//   the old one's state rather than recovering it from the host (recovery writes network '(recovered)');
// - the ping lost no packet. The bound is 0 lost among the sequence numbers sent until one second before
//   the ping is stopped: those still in flight when it stops are not counted (at 100 ms intervals, at most
//   a few). The datapath is the kernel's (veths, routes, rules, nftables), which a daemon restart must not
//   touch; any loss is a finding. The counts are printed.
// The state schema has one version so far (ipamd/state/schema.ts, SCHEMA_VERSION 1, no migrations); the
// "forward" check becomes a real migration once a version 2 exists.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AGNHOST_IMAGE, buildAgnhostImage } from '../../images/agnhost/build.js';
import { spreadDeployment } from '../../lab/k8s/workloads.js';
import { ClusterLab, K8S_BIN, until, type ClusterNode } from '../helpers/cluster-lab.js';
import { ROOT } from '../helpers/lab.js';

const log = (msg: string) => process.stderr.write(`k8s-helm-upgrade: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PODS = 20;
const NEW_TAG = '0.1.0-upgrade';

interface PodView {
  name: string;
  uid: string;
  node: string;
  ip: string;
  restarts: number;
  ready: boolean;
}

interface StateView {
  schemaVersion: number;
  allocations: string[];
}

class Pinger {
  private out = '';
  private readonly proc: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(node: ClusterNode, netnsPath: string, target: string) {
    // Two steps: the pod's netns path exists only in the node's mount namespace.
    this.proc = spawn(
      'nsenter',
      [
        `--mount=${node.kube!.mntns}`,
        '--',
        'nsenter',
        `--net=${netnsPath}`,
        '--',
        'ping',
        '-n',
        '-i',
        '0.1',
        target,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc.stdout!.on('data', (b: Buffer) => (this.out += b.toString()));
    this.proc.stderr!.on('data', (b: Buffer) => (this.out += b.toString()));
    this.exited = new Promise((r) => this.proc.once('exit', () => r()));
  }

  replies(): number {
    return (this.out.match(/icmp_seq=/g) ?? []).length;
  }

  /** Stops the ping; returns sent and lost, not counting the last second's sequence numbers. */
  async stop(): Promise<{ sent: number; lost: number; lostSeqs: number[]; summary: string }> {
    if (this.proc.exitCode === null) this.proc.kill('SIGINT');
    await this.exited;
    const transmitted = Number(/(\d+) packets transmitted/.exec(this.out)?.[1] ?? NaN);
    if (!Number.isFinite(transmitted)) throw new Error(`ping printed no summary:\n${this.out.slice(-2000)}`);
    const seen = new Set([...this.out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
    const counted = transmitted - 10;
    const lostSeqs: number[] = [];
    for (let s = 1; s <= counted; s++) if (!seen.has(s)) lostSeqs.push(s);
    const summary = this.out
      .split('\n')
      .filter((l) => /transmitted|rtt/.test(l))
      .join('; ');
    return { sent: counted, lost: lostSeqs.length, lostSeqs, summary };
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

describe('helm upgrade of the DaemonSet under a continuous ping between pods of two nodes', () => {
  const cluster = new ClusterLab(`tc-up${randomBytes(2).toString('hex')}-`);
  const pingers: Pinger[] = [];

  const workloads = (): PodView[] =>
    (cluster.json(['get', 'pods', '-n', 'default', '-l', 'app=fleet']).items as any[]).map((p) => ({
      name: p.metadata.name,
      uid: p.metadata.uid,
      node: p.spec.nodeName,
      ip: p.status.podIP,
      restarts: (p.status.containerStatuses ?? []).reduce((n: number, c: any) => n + c.restartCount, 0),
      ready: (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
    }));
  const daemons = () =>
    (
      cluster.json(['get', 'pods', '-n', 'kube-system', '-l', 'app.kubernetes.io/name=tidepool'])
        .items as any[]
    ).map((p) => ({
      name: p.metadata.name as string,
      node: p.spec.nodeName as string,
      image: p.spec.containers[0].image as string,
      env: Object.fromEntries((p.spec.containers[0].env ?? []).map((e: any) => [e.name, e.value])),
      ready: (p.status.containerStatuses ?? []).every((c: any) => c.ready),
    }));
  const state = (node: ClusterNode): StateView => {
    const db = new Database(join(node.kube!.fsRoot, 'run/tidepool/ipamd.db'), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as {
        value: string;
      };
      const rows = db
        .prepare('SELECT network, container_id, ifname, pod_name, address, allocated_at FROM allocations')
        .all() as Record<string, unknown>[];
      return {
        schemaVersion: Number(version.value),
        allocations: rows.map((r) => JSON.stringify(r)).sort(),
      };
    } finally {
      db.close();
    }
  };
  /** The network namespace path of a pod's sandbox, as its node sees it. */
  const podNetns = async (node: ClusterNode, pod: string): Promise<string> => {
    const crictl = [
      join(K8S_BIN, 'crictl'),
      `--runtime-endpoint=unix://${node.kube!.containerdSocket}`,
      '--timeout=30s',
    ];
    const id = (await cluster.nodeMust(node, [...crictl, 'pods', '--name', pod, '-q'])).trim().split('\n')[0];
    const spec = JSON.parse(await cluster.nodeMust(node, [...crictl, 'inspectp', id]));
    const ns = spec.info.runtimeSpec.linux.namespaces.find((n: any) => n.type === 'network');
    if (!ns?.path) throw new Error(`${pod}: no network namespace in its sandbox ${id}`);
    return ns.path as string;
  };

  beforeAll(async () => {
    const t0 = Date.now();
    await cluster.up(2);
    log(`lab up --kubernetes --nodes 2: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await cluster.importImage(buildAgnhostImage().archive);
  }, 960_000);

  afterAll(async () => {
    for (const p of pingers) p.kill();
    const down = await cluster.down();
    if (down.code !== 0) log(`lab down: exit ${down.code}: ${down.stderr.slice(-3000)}`);
  }, 300_000);

  it('rolls both daemons to the new build with no pod restart, no address change, no lost ping', async () => {
    cluster.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(
        spreadDeployment({
          name: 'fleet',
          replicas: PODS,
          image: AGNHOST_IMAGE,
          port: 8080,
          readinessPath: '/healthz',
          args: ['netexec', '--http-port=8080'],
        }),
      ),
    );
    const before = await until(
      `${PODS} fleet pods Ready`,
      () => {
        const p = workloads();
        return p.length === PODS && p.every((x) => x.ready && x.ip) && p;
      },
      300_000,
    );
    const byNode = (n: string) => before.filter((p) => p.node === n);
    expect(byNode('node-1').length).toBe(PODS / 2);
    expect(byNode('node-2').length).toBe(PODS / 2);
    const nodes = cluster.nodes();
    const node = (n: string) => nodes.find((x) => x.name === n)!;
    const stateBefore = new Map(nodes.map((n) => [n.name, state(n)]));
    for (const n of nodes)
      expect(stateBefore.get(n.name)!.allocations.length).toBeGreaterThanOrEqual(PODS / 2);
    const daemonsBefore = daemons();
    expect(daemonsBefore.map((d) => d.node).sort()).toEqual(['node-1', 'node-2']);
    const oldImage = daemonsBefore[0].image;

    // The continuous pings, across nodes both ways.
    const pairs = [
      [byNode('node-1')[0], byNode('node-2')[0]],
      [byNode('node-2')[1], byNode('node-1')[1]],
    ];
    for (const [from, to] of pairs)
      pingers.push(new Pinger(node(from.node), await podNetns(node(from.node), from.name), to.ip));
    await until('the pings answered', () => pingers.every((p) => p.replies() >= 5), 30_000);

    // The new build: the same image under another tag on every node, and a changed value.
    const newImage = `${oldImage.slice(0, oldImage.lastIndexOf(':'))}:${NEW_TAG}`;
    await cluster.tagImage(oldImage, newImage);
    const t0 = Date.now();
    cluster.helm([
      'upgrade',
      'tidepool',
      join(ROOT, 'deploy/chart/tidepool'),
      '-n',
      'kube-system',
      '--reuse-values',
      '--set',
      `image.tag=${NEW_TAG}`,
      '--set',
      'env.AWS_VPC_K8S_CNI_LOGLEVEL=info',
      '--wait',
      '--timeout',
      '10m',
    ]);
    cluster.kubectl(
      ['rollout', 'status', 'ds/tidepool', '-n', 'kube-system', '--timeout=300s'],
      undefined,
      320_000,
    );
    const rolled = await until(
      'both daemons replaced and ready',
      () => {
        const d = daemons();
        return (
          d.length === 2 &&
          d.every((x) => x.ready && x.image === newImage && !daemonsBefore.some((o) => o.name === x.name)) &&
          d
        );
      },
      300_000,
    );
    log(
      `helm upgrade to ${newImage}: both daemons replaced and ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    for (const d of rolled) expect(d.env.AWS_VPC_K8S_CNI_LOGLEVEL).toBe('info');
    // The nodes serve again: Ready and the daemon's own condition True.
    await until(
      'both nodes Ready and tidepool.io/NetworkReady',
      () =>
        (cluster.json(['get', 'nodes']).items as any[]).every((n) =>
          ['Ready', 'tidepool.io/NetworkReady'].every((t) =>
            n.status.conditions.some((c: any) => c.type === t && c.status === 'True'),
          ),
        ),
      120_000,
    );
    await sleep(3000); // pings keep running past the rollout, so the daemons' start is inside the counted part

    const results = [];
    for (const p of pingers) results.push(await p.stop());
    for (const [i, r] of results.entries())
      log(
        `ping ${pairs[i][0].name} (${pairs[i][0].node}) → ${pairs[i][1].ip} (${pairs[i][1].node}): ` +
          `${r.sent} counted, ${r.lost} lost${r.lost ? ` (seq ${r.lostSeqs.join(',')})` : ''}; ${r.summary}`,
      );
    // The whole rollout is inside each ping's counted part.
    for (const r of results) expect(r.sent).toBeGreaterThan(((Date.now() - t0) / 1000 - 2) * 5);

    const after = workloads();
    expect(
      after.map(({ name, uid, node, ip, restarts }) => ({ name, uid, node, ip, restarts })).sort(byName),
    ).toEqual(before.map(({ name, uid, node, ip }) => ({ name, uid, node, ip, restarts: 0 })).sort(byName));
    expect(after.every((p) => p.ready)).toBe(true);
    for (const n of nodes) {
      const s = state(n);
      expect(s.schemaVersion).toBeGreaterThanOrEqual(stateBefore.get(n.name)!.schemaVersion);
      expect(s.allocations).toEqual(stateBefore.get(n.name)!.allocations);
      expect(s.allocations.some((a) => a.includes('(recovered)'))).toBe(false);
    }
    for (const r of results) expect(r.lost).toBe(0);
  }, 900_000);
});

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
