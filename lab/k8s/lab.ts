// The lab's Kubernetes mode (`tidepoolctl lab up --kubernetes`): after the lab's network is up (vpc and
// internet namespaces, the cloud, the fabric, each node's eth0; but no daemon of the lab's own), a real
// control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler v1.37.2) starts in the lab's
// vpc namespace, the apiserver on the gateway address of node-1's subnet (nodes reach it directly and it
// reaches their addresses), Tidepool's chart is installed with `helm install` from deploy/ (lab values by
// -f, the chart's defaults untouched), and each node becomes a kubelet node (lab/k8s/node.ts: its own
// mount namespace, containerd and kubelet), so the chart's DaemonSet runs Tidepool's daemon there from the
// chart's image. `lab up` returns once every node is Ready, untainted and tidepool.io/NetworkReady.
// kubectl works from the machine through `tidepoolctl lab kubectl -- ARGS` (run inside the vpc namespace
// with the lab's admin kubeconfig). Nothing of the cluster runs in the root namespace.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { subnetGateway } from '../../config/net.js';
import type { LabCloud } from '../cloud.js';
import { record, writeManifest, type Manifest, type NodeRecord } from '../manifest.js';
import { labNames } from '../names.js';
import { ControlPlane } from './control-plane.js';
import { labImages } from './images.js';
import { prepareNodeMachine, startKubeletNode, STARTUP_TAINT } from './node.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
export const NETWORK_READY = 'tidepool.io/NetworkReady';
const APISERVER_PORT = 6443;

export function chartDir(): string {
  for (const c of [join(ROOT, 'deploy/chart/tidepool'), resolve('deploy/chart/tidepool')])
    if (existsSync(join(c, 'Chart.yaml'))) return c;
  throw new Error('deploy/chart/tidepool not found (run from the repository)');
}

export function controlPlaneFor(m: Manifest): ControlPlane {
  if (!m.nodes.length) throw new Error('the lab has no nodes');
  return new ControlPlane({
    netnsPath: `/run/netns/${labNames(m.prefix).vpc}`,
    dir: join(m.stateDir, 'k8s'),
    address: subnetGateway(m.nodes[0].subnetCidr),
    port: APISERVER_PORT,
    labId: m.stateDir,
  });
}

/** The chart values the lab passes with `helm install -f` (the chart's own defaults stay production's). */
export function labChartValues(m: Manifest, cloud: LabCloud): Record<string, unknown> {
  const cp = controlPlaneFor(m);
  // The cloud's environment without the per-instance part: each daemon reads its instance from its Node.
  const cloudEnv = Object.fromEntries(
    Object.entries(cloud.daemonEnv('')).filter(([k, v]) => v !== '' && k !== 'TIDEPOOL_SIM_INSTANCE_ID'),
  );
  // Sockets of the cloud in the lab's state directory (the sim's) reach the daemon as hostPath volumes.
  const sockets = Object.values(cloudEnv).filter(
    (v) => v.startsWith(m.stateDir + '/') && v.endsWith('.sock'),
  );
  return {
    image: { pullPolicy: 'Never' },
    env: {
      ...cloudEnv,
      // No kube-proxy in the lab: the daemon reaches the apiserver at its address, not the Service's.
      KUBERNETES_SERVICE_HOST: cp.o.address,
      KUBERNETES_SERVICE_PORT: String(APISERVER_PORT),
      // containerd 1.6's libcni reads conflists up to 1.0.0.
      TIDEPOOL_CNI_VERSION: '1.0.0',
      TIDEPOOL_POOL_POLICY: m.options.policy,
      AWS_VPC_K8S_CNI_LOGLEVEL: 'debug',
      AWS_VPC_K8S_PLUGIN_LOG_LEVEL: 'debug',
      ...m.options.env,
    },
    extraVolumes: sockets.map((path, i) => ({ name: `lab-cloud-${i}`, hostPath: { path, type: 'Socket' } })),
    extraVolumeMounts: sockets.map((path, i) => ({ name: `lab-cloud-${i}`, mountPath: path })),
  };
}

interface NodeView {
  name: string;
  ready: boolean;
  tainted: boolean;
  networkReady?: { status: string; reason?: string; message?: string };
}

/** The lab's nodes as the API server sees them. */
export function nodeViews(cp: ControlPlane): NodeView[] {
  const r = cp.kubectl(['get', 'nodes', '-o', 'json']);
  if (r.status !== 0) return [];
  const items = (JSON.parse(r.stdout).items ?? []) as any[];
  return items.map((n) => {
    const cond = (t: string) => (n.status?.conditions ?? []).find((c: any) => c.type === t);
    return {
      name: n.metadata.name,
      ready: cond('Ready')?.status === 'True',
      tainted: (n.spec?.taints ?? []).some((t: any) => t.key === STARTUP_TAINT),
      networkReady: cond(NETWORK_READY),
    };
  });
}

/** Waits until each named node is Ready, without the startup taint and tidepool.io/NetworkReady True. */
export async function waitForNodesServing(m: Manifest, names: string[], timeoutMs = 420_000): Promise<void> {
  const cp = controlPlaneFor(m);
  const end = Date.now() + timeoutMs;
  let last: NodeView[] = [];
  for (;;) {
    last = nodeViews(cp);
    const ok = names.every((n) => {
      const v = last.find((x) => x.name === n);
      return v && v.ready && !v.tainted && v.networkReady?.status === 'True';
    });
    if (ok) return;
    if (Date.now() > end)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${names.join(', ')} to be Ready, untainted and ` +
          `${NETWORK_READY}: ${JSON.stringify(last)} (logs: ${m.stateDir}/kubelet-*.log, containerd-*.log, ` +
          `${m.stateDir}/node-*/fs/var/log/pods)`,
      );
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** Makes a lab node a kubelet node (its machine, containerd with the images, kubelet); does not wait. */
export async function joinKubeletNode(
  m: Manifest,
  node: NodeRecord,
  images: string[],
  log: (msg: string) => void,
): Promise<void> {
  if (node.kube && existsSync(join(node.dir, 'kubelet.yaml')))
    throw new Error(`${node.name} is a kubelet node already`);
  await prepareNodeMachine(m, node);
  // The daemon's socket as the machine sees it (status and the lab's checks use it).
  node.socket = join(node.kube!.fsRoot, 'run/tidepool/ipamd.sock');
  writeManifest(m);
  await startKubeletNode(m, node, controlPlaneFor(m), images, log);
}

export async function k8sLabUp(
  m: Manifest,
  cloud: LabCloud,
  log: (msg: string) => void,
  opts: { kubelets?: number } = {},
): Promise<void> {
  const cp = controlPlaneFor(m);
  log(`starting the Kubernetes control plane in ${labNames(m.prefix).vpc} at ${cp.url}`);
  try {
    await cp.up();
  } finally {
    for (const [i, pid] of cp.pids.entries()) {
      const r = record(m, { kind: 'process', name: `k8s-${i}`, netns: labNames(m.prefix).vpc });
      if (r.kind === 'process') r.pid = pid;
    }
    writeManifest(m);
  }
  const images = labImages(log);
  const values = join(m.stateDir, 'k8s', 'lab-values.json');
  writeFileSync(values, JSON.stringify(labChartValues(m, cloud), null, 2) + '\n');
  log(`helm install tidepool deploy/chart/tidepool -n kube-system -f ${values}`);
  const r = cp.helm(['install', 'tidepool', chartDir(), '-n', 'kube-system', '-f', values]);
  if (r.status !== 0) throw new Error(`helm install failed: ${r.stderr}`);
  const kubelets = m.nodes.slice(0, opts.kubelets ?? m.nodes.length);
  for (const node of kubelets) await joinKubeletNode(m, node, images, log);
  log(`waiting for ${kubelets.map((n) => n.name).join(', ')}: Ready, untainted, ${NETWORK_READY}`);
  const t0 = Date.now();
  await waitForNodesServing(
    m,
    kubelets.map((n) => n.name),
  );
  log(`nodes serving after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  log(`Kubernetes is up: tidepoolctl lab kubectl --prefix ${m.prefix} -- get nodes`);
}

/** `lab kubectl ARGS`: kubectl in the vpc namespace as the lab's admin, on the caller's terminal (stdin
 * too, for `apply -f -`); returns its exit code. */
export function labKubectl(m: Manifest, args: string[]): number {
  const cp = controlPlaneFor(m);
  if (!existsSync(cp.adminKubeconfig)) throw new Error('this lab has no Kubernetes (lab up --kubernetes)');
  const argv = cp.kubectlArgv(args);
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env: cp.kubectlEnv() });
  return r.status ?? 1;
}

/** `lab helm ARGS`: helm in the vpc namespace against the lab's cluster; returns its exit code. */
export function labHelm(m: Manifest, args: string[]): number {
  const cp = controlPlaneFor(m);
  if (!existsSync(cp.adminKubeconfig)) throw new Error('this lab has no Kubernetes (lab up --kubernetes)');
  const r = cp.helm(args);
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.status ?? 1;
}
