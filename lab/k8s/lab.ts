// The lab's Kubernetes mode (`tidepoolctl lab up --kubernetes`): after the lab is up, a real control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler v1.37.2) starts in the lab's vpc namespace,
// the apiserver on the gateway address of node-1's subnet (so nodes reach it directly and it reaches
// their addresses), and Tidepool's chart is installed with `helm install` from deploy/. kubectl works from
// the machine through `tidepoolctl lab kubectl ARGS` (run inside the vpc namespace with the lab's admin
// kubeconfig). Nothing of the cluster runs in the root namespace; `lab down` stops it with every other
// process in the lab's namespaces and removes its state with the state directory.
// Not yet here: a containerd and a kubelet in each node namespace (the DaemonSet has no node to run on).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { subnetGateway } from '../../config/net.js';
import { record, writeManifest, type Manifest } from '../manifest.js';
import { labNames } from '../names.js';
import { ControlPlane } from './control-plane.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

function chartDir(): string {
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
    labId: m.stateDir,
  });
}

export async function k8sLabUp(m: Manifest, log: (msg: string) => void): Promise<void> {
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
  log('helm install tidepool deploy/chart/tidepool -n kube-system');
  const r = cp.helm([
    'install',
    'tidepool',
    chartDir(),
    '-n',
    'kube-system',
    '--set',
    'image.pullPolicy=Never',
  ]);
  if (r.status !== 0) throw new Error(`helm install failed: ${r.stderr}`);
  log(`Kubernetes is up: tidepoolctl lab kubectl --prefix ${m.prefix} -- get nodes`);
}

/** `lab kubectl ARGS`: kubectl in the vpc namespace as the lab's admin; returns its exit code. */
export function labKubectl(m: Manifest, args: string[]): number {
  const cp = controlPlaneFor(m);
  if (!existsSync(cp.adminKubeconfig)) throw new Error('this lab has no Kubernetes (lab up --kubernetes)');
  const r = cp.kubectl(args);
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.status ?? 1;
}
