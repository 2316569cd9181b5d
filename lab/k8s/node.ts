// A kubelet node of the cluster lab: each lab node is a machine of its own. It gets a persistent mount
// namespace (bound to <node>/mntns), in which per-node directories are bind-mounted over the paths a
// Kubernetes node keeps at fixed places: the CNI directories, Tidepool's run and log directories, the
// kubelet's root and log directories, containerd's run directory and /run/netns (where containerd puts the
// pods' network namespaces). That node's containerd (Debian's 1.6) and its kubelet v1.37.2 run inside that
// mount namespace and the node's network namespace, so the chart's hostPaths keep their production values
// and still land in this node's directories, and the kubelet's volume mounts are visible to containerd.
// None of these mounts exist in the root mount namespace (the namespace is made with private propagation).
//
// The machine's workarounds (the team's reference notes on Kubernetes on one machine, section 4b):
// - cgroup v1: failCgroupV1: false;
// - several kubelets on one machine: cgroupsPerQOS: false, enforceNodeAllocatable: [], cgroupfs;
// - containerd 1.6 has no RuntimeConfig call: the kubelet falls back to its cgroupDriver (logged);
// - the kubelet writes vm.overcommit_memory, kernel.panic and kernel.panic_on_oops, which are global:
//   files holding the values it wants are bind-mounted over those /proc/sys entries in the node's mount
//   namespace, so it finds nothing to change and the machine's values stay as they are.
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { instanceTypes } from '../../providers/instance-types.generated.js';
import { record, withLabLock, writeManifest, type Manifest, type NodeRecord } from '../manifest.js';
import { alive, must, netnsPath, runCommand } from '../netns.js';
import { K8S_BIN, type ControlPlane } from './control-plane.js';
import { containerdConfig } from './containerd-config.js';

/** The paths a node keeps at fixed places, each bind-mounted from the node's own directory. */
export const NODE_PATHS = [
  '/etc/cni/net.d',
  '/opt/cni/bin',
  '/run/tidepool',
  '/var/log/tidepool',
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/run/containerd',
  '/run/netns',
] as const;

/** The global kernel settings the kubelet would write, with the values it wants. */
export const KUBELET_SYSCTLS: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
};

export const STARTUP_TAINT = 'tidepool.io/network-unavailable';
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Another containerd for the nodes: a directory with containerd and containerd-shim-runc-v2, e.g. 2.4.2
 * from scripts/k8s/build-containerd.sh (default: Debian's 1.6 on PATH). */
const CONTAINERD_BIN = process.env.TIDEPOOL_LAB_CONTAINERD_BIN ?? '';
/** CNI plugins a node has besides Tidepool's (Debian's containernetworking-plugins). */
const HOST_PLUGINS = ['loopback', 'portmap'];

export function providerId(node: NodeRecord): string {
  return `aws:///${node.zone ?? ''}/${node.instanceId}`;
}

/** The kubelet's max-pods as EKS computes it: interfaces × (addresses per interface − 1) + 2. */
export function maxPods(instanceType: string): number {
  const row = instanceTypes[instanceType];
  return row ? row[0] * (row[1] - 1) + 2 : 110;
}

/** argv prefix that runs a command inside the node (its mount and network namespaces). */
export function inNode(node: NodeRecord, argv: string[]): string[] {
  if (!node.kube) throw new Error(`${node.name} is not a kubelet node`);
  return ['nsenter', `--mount=${node.kube.mntns}`, `--net=${netnsPath(node.netns)}`, '--', ...argv];
}

export async function nodeMust(node: NodeRecord, argv: string[]): Promise<string> {
  return must(inNode(node, argv));
}

export function crictlArgv(node: NodeRecord, args: string[]): string[] {
  return inNode(node, [
    join(K8S_BIN, 'crictl'),
    `--runtime-endpoint=unix://${node.kube!.containerdSocket}`,
    `--image-endpoint=unix://${node.kube!.containerdSocket}`,
    `--config=${join(node.dir, 'crictl.yaml')}`,
    '--timeout=30s',
    ...args,
  ]);
}

/** Creates missing mount points on the host (recorded before, so `lab down` removes what it made). */
/** Mount points any cluster lab created, one empty file each (so the last lab to go removes them, even
 * when another lab created them and went first). */
export const MOUNTPOINT_REGISTRY = '/run/tidepool-lab/.mountpoints';
/** Where every lab's state directory lives; its `lock` guards the mount points shared by all labs. */
const LAB_ROOT = '/run/tidepool-lab';

function ensureMountPoint(m: Manifest, path: string): void {
  if (existsSync(path)) return;
  ensureMountPoint(m, dirname(path));
  record(m, { kind: 'mountpoint', path });
  mkdirSync(MOUNTPOINT_REGISTRY, { recursive: true });
  writeFileSync(join(MOUNTPOINT_REGISTRY, encodeURIComponent(path)), '');
  mkdirSync(path);
}

function startInNode(
  m: Manifest,
  node: NodeRecord,
  name: string,
  argv: string[],
  env: Record<string, string>,
) {
  const r = record(m, { kind: 'process', name, netns: node.netns });
  const fd = openSync(join(m.stateDir, `${name}.log`), 'a');
  try {
    const child = spawn(inNode(node, argv)[0], inNode(node, argv).slice(1), {
      env: { PATH, ...env, TIDEPOOL_LAB_ID: m.stateDir },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    if (!child.pid) throw new Error(`could not start ${name}`);
    child.unref();
    if (r.kind === 'process') r.pid = child.pid;
    writeManifest(m);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

async function waitFor(
  what: string,
  fn: () => Promise<boolean>,
  timeoutMs: number,
  pid?: number,
  log?: string,
) {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (pid && !alive(pid)) throw new Error(`${what}: the process exited (see ${log})`);
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (see ${log})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Where a kubelet node's machine lives: fixed places under the node's directory (so `lab down` finds them
 * even when a manifest lost the node's record). */
export function nodeMachine(node: NodeRecord): NonNullable<NodeRecord['kube']> {
  return {
    mntns: join(node.dir, 'mntns'),
    containerdSocket: join(node.dir, 'containerd', 'containerd.sock'),
    fsRoot: join(node.dir, 'fs'),
    providerId: providerId(node),
  };
}

/** The node's machine when it has one (recorded, or found at its fixed place). */
export function machineOf(node: NodeRecord): NodeRecord | undefined {
  if (node.kube) return node;
  return existsSync(join(node.dir, 'mntns')) ? { ...node, kube: nodeMachine(node) } : undefined;
}

/** The node's machine: directories, mount namespace, bind mounts. */
export async function prepareNodeMachine(m: Manifest, node: NodeRecord): Promise<void> {
  node.kube = nodeMachine(node);
  const { fsRoot, mntns } = node.kube;
  writeManifest(m);
  for (const p of NODE_PATHS) mkdirSync(join(fsRoot, p), { recursive: true });
  mkdirSync(join(node.dir, 'containerd'), { recursive: true });
  for (const p of HOST_PLUGINS) copyFileSync(`/usr/lib/cni/${p}`, join(fsRoot, 'opt/cni/bin', p));
  mkdirSync(join(node.dir, 'sysctl'), { recursive: true });
  for (const [k, v] of Object.entries(KUBELET_SYSCTLS))
    writeFileSync(join(node.dir, 'sysctl', k.replace('/', '.')), `${v}\n`);
  writeFileSync(join(node.dir, 'resolv.conf'), '');
  const sock = `unix://${node.kube.containerdSocket}`;
  writeFileSync(join(node.dir, 'crictl.yaml'), `runtime-endpoint: ${sock}\nimage-endpoint: ${sock}\n`);

  record(m, { kind: 'mntns', path: mntns, node: node.name });
  writeFileSync(mntns, '');
  await must(['unshare', `--mount=${mntns}`, '--propagation', 'private', 'true']);
  const inNs = (args: string[]) => must(['nsenter', `--mount=${mntns}`, '--', ...args]);
  // Mount points are made and mounted under the machine-wide lock, so that another lab's `down` never
  // removes one between its mkdir and the bind mount.
  await withLabLock(LAB_ROOT, async () => {
    for (const p of NODE_PATHS) ensureMountPoint(m, p);
    for (const p of NODE_PATHS) await inNs(['mount', '--bind', join(fsRoot, p), p]);
  });
  // The kubelet's root shares its mounts inside the node (as on a systemd host); nothing leaves the node.
  await inNs(['mount', '--make-rshared', '/var/lib/kubelet']);
  for (const k of Object.keys(KUBELET_SYSCTLS))
    await inNs(['mount', '--bind', join(node.dir, 'sysctl', k.replace('/', '.')), `/proc/sys/${k}`]);
}

/** The node's containerd: the machine's CNI paths, which the node's mount namespace makes its own. */
export function nodeContainerdConfig(node: NodeRecord): string {
  return containerdConfig({
    dir: join(node.dir, 'containerd'),
    socket: node.kube!.containerdSocket,
    cniBinDir: '/opt/cni/bin',
    cniConfDir: '/etc/cni/net.d',
    disableNri: CONTAINERD_BIN !== '',
  });
}

export function kubeletConfig(node: NodeRecord, caFile: string): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    failSwapOn: false,
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    containerRuntimeEndpoint: `unix://${node.kube!.containerdSocket}`,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: caFile },
    },
    authorization: { mode: 'AlwaysAllow' },
    address: node.primaryAddress,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    resolvConf: join(node.dir, 'resolv.conf'),
    registerNode: true,
    registerWithTaints: [{ key: STARTUP_TAINT, effect: 'NoSchedule' }],
    providerID: node.kube!.providerId,
    maxPods: maxPods(node.instanceType),
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
  };
}

/** Starts the node's containerd, imports the images, then starts its kubelet. */
export async function startKubeletNode(
  m: Manifest,
  node: NodeRecord,
  cp: ControlPlane,
  images: string[],
  log: (msg: string) => void,
): Promise<void> {
  const k = node.kube!;
  const cfg = join(node.dir, 'containerd', 'config.toml');
  writeFileSync(cfg, nodeContainerdConfig(node));
  log(`${node.name}: starting containerd`);
  const cpid = startInNode(
    m,
    node,
    `containerd-${node.name}`,
    [CONTAINERD_BIN ? join(CONTAINERD_BIN, 'containerd') : 'containerd', '--config', cfg],
    CONTAINERD_BIN ? { PATH: `${CONTAINERD_BIN}:${PATH}` } : {},
  );
  await waitFor(
    `${node.name}'s containerd`,
    async () => existsSync(k.containerdSocket),
    60_000,
    cpid,
    join(m.stateDir, `containerd-${node.name}.log`),
  );
  for (const img of images) await importNodeImage(node, img);
  startKubelet(m, node, cp, log);
}

/** Imports an OCI image archive into the node's containerd (the k8s.io namespace the kubelet uses). */
export async function importNodeImage(node: NodeRecord, archive: string): Promise<void> {
  await nodeMust(node, [
    'ctr',
    '-a',
    node.kube!.containerdSocket,
    '-n',
    'k8s.io',
    'images',
    'import',
    '--all-platforms',
    archive,
  ]);
}

/** Starts the node's kubelet (again, after stopKubelet: same configuration, same node). */
export function startKubelet(
  m: Manifest,
  node: NodeRecord,
  cp: ControlPlane,
  log: (msg: string) => void,
): number {
  const k = node.kube!;
  const kubeconfig = cp.nodeKubeconfig(node.name, join(node.dir, 'kubelet.kubeconfig'));
  const config = join(node.dir, 'kubelet.yaml');
  writeFileSync(config, JSON.stringify(kubeletConfig(node, join(cp.pki, 'ca.crt')), null, 2) + '\n');
  log(`${node.name}: starting the kubelet (node-ip ${node.primaryAddress}, providerID ${k.providerId})`);
  const labels = [
    `node.kubernetes.io/instance-type=${node.instanceType}`,
    ...(node.zone ? [`topology.kubernetes.io/zone=${node.zone}`] : []),
  ];
  return startInNode(
    m,
    node,
    `kubelet-${node.name}`,
    [
      join(K8S_BIN, 'kubelet'),
      `--config=${config}`,
      `--kubeconfig=${kubeconfig}`,
      `--hostname-override=${node.name}`,
      `--node-ip=${node.primaryAddress}`,
      `--node-labels=${labels.join(',')}`,
    ],
    { HOME: node.dir },
  );
}

/** Stops the node's kubelet by its recorded pid (its pods keep running under containerd). */
export async function stopKubelet(m: Manifest, node: NodeRecord): Promise<void> {
  for (const r of m.resources) {
    if (r.kind !== 'process' || r.name !== `kubelet-${node.name}` || !r.pid || !alive(r.pid)) continue;
    try {
      process.kill(r.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    const end = Date.now() + 10_000;
    while (alive(r.pid) && Date.now() < end) await new Promise((res) => setTimeout(res, 100));
    if (alive(r.pid)) process.kill(r.pid, 'SIGKILL');
  }
}

/** Pods still on the node's containerd, workloads first (their DEL needs the node's daemon). */
async function removeSandboxes(node: NodeRecord, log: (msg: string) => void): Promise<void> {
  const r = await runCommand(crictlArgv(node, ['pods', '-o', 'json']), { timeoutMs: 60_000 });
  if (r.code !== 0) return;
  const items = (JSON.parse(r.stdout || '{}').items ?? []) as {
    id: string;
    metadata?: { namespace?: string };
  }[];
  const order = [
    ...items.filter((p) => p.metadata?.namespace !== 'kube-system'),
    ...items.filter((p) => p.metadata?.namespace === 'kube-system'),
  ];
  if (order.length) log(`${node.name}: removing ${order.length} pod sandbox(es)`);
  for (const p of order) await runCommand(crictlArgv(node, ['rmp', '-f', p.id]), { timeoutMs: 60_000 });
}

/** The network namespaces (inode numbers) of the node's pods: their processes are stopped by these. */
async function podNetnsInodes(node: NodeRecord): Promise<Set<string>> {
  const out = new Set<string>();
  const dir = join(node.kube!.fsRoot, 'run/netns');
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    const r = await runCommand([
      'nsenter',
      `--mount=${node.kube!.mntns}`,
      '--',
      'stat',
      '-L',
      '-c',
      '%i',
      `/run/netns/${f}`,
    ]);
    if (r.code === 0) out.add(`net:[${r.stdout.trim()}]`);
  }
  return out;
}

function pidsInNetns(inodes: Set<string>): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (inodes.has(readlinkSync(`/proc/${p}/ns/net`))) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * First part of a kubelet node's teardown, while its daemon still runs: the kubelet stops (so it restarts
 * nothing), every pod sandbox is removed through containerd (the plugin's DEL releases the addresses), and
 * the pids of pod processes that outlived that are returned for the lab to stop with the others.
 */
export async function drainKubeletNode(
  m: Manifest,
  node: NodeRecord,
  log: (msg: string) => void,
): Promise<number[]> {
  if (!node.kube || !existsSync(node.kube.mntns)) return [];
  await stopKubelet(m, node);
  if (existsSync(node.kube.containerdSocket)) await removeSandboxes(node, log);
  return pidsInNetns(await podNetnsInodes(node));
}

/** Mount targets inside the node's mount namespace that are the node's own (deepest first). */
async function nodeMounts(m: Manifest, node: NodeRecord): Promise<string[]> {
  const r = await runCommand(['nsenter', `--mount=${node.kube!.mntns}`, '--', 'cat', '/proc/self/mountinfo']);
  if (r.code !== 0) return [];
  const ours = (t: string) =>
    t.startsWith(m.stateDir + '/') ||
    NODE_PATHS.some((p) => t === p || t.startsWith(p + '/')) ||
    Object.keys(KUBELET_SYSCTLS).some((k) => t === `/proc/sys/${k}`);
  const targets = r.stdout
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((t): t is string => !!t && ours(t.replace(/\\040/g, ' ')));
  return [...new Set(targets)].sort(
    (a, b) => b.split('/').length - a.split('/').length || b.length - a.length,
  );
}

/**
 * Second part, once no process is left in the node: the node's mounts are unmounted inside its mount
 * namespace (deepest first), then the namespace's own file, so nothing of it stays.
 */
export async function unmountKubeletNode(m: Manifest, node: NodeRecord, errors: string[]): Promise<void> {
  if (!node.kube || !existsSync(node.kube.mntns)) return;
  if (isNsfs(node.kube.mntns)) {
    for (const t of await nodeMounts(m, node)) {
      const r = await runCommand(['nsenter', `--mount=${node.kube.mntns}`, '--', 'umount', '-l', t]);
      if (r.code !== 0 && !/not mounted|no mount point/.test(r.stderr))
        errors.push(`${node.name}: umount ${t}: ${r.stderr.trim()}`);
    }
    const r = await runCommand(['umount', node.kube.mntns]);
    if (r.code !== 0) errors.push(`${node.name}: umount ${node.kube.mntns}: ${r.stderr.trim()}`);
  }
}

/** True while the path is a mount point in the root mount namespace (the bound namespace file). */
function isNsfs(path: string): boolean {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[4] === path);
}

/** Every mount point of every mount namespace on the machine (one process read per namespace). */
export function mountPointsEverywhere(): Set<string> {
  const seen = new Set<string>();
  const out = new Set<string>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const ns = readlinkSync(`/proc/${p}/ns/mnt`);
      if (seen.has(ns)) continue;
      seen.add(ns);
      for (const l of readFileSync(`/proc/${p}/mountinfo`, 'utf8').split('\n')) {
        const t = l.split(' ')[4];
        if (t) out.add(t);
      }
    } catch {
      /* gone */
    }
  }
  // Mount namespaces kept by a bind-mounted file (a node whose containerd has not started yet, or stopped).
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = l.split(' ');
    if (!f[3]?.startsWith('mnt:[') || seen.has(f[3])) continue;
    seen.add(f[3]);
    try {
      const info = execFileSync('nsenter', [`--mount=${f[4]}`, '--', 'cat', '/proc/self/mountinfo'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      for (const x of info.split('\n')) if (x.split(' ')[4]) out.add(x.split(' ')[4]);
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/**
 * Removes the mount points the lab created on the host, deepest first, when they are empty and no mount
 * namespace on the machine (another lab's node) still mounts something there.
 */
export async function removeMountPoints(m: Manifest, errors: string[]): Promise<void> {
  const registered = existsSync(MOUNTPOINT_REGISTRY) && readdirSync(MOUNTPOINT_REGISTRY).length > 0;
  if (!registered && !m.resources.some((r) => r.kind === 'mountpoint')) return;
  await withLabLock(LAB_ROOT, async () => removeMountPointsLocked(m, errors));
}

function removeMountPointsLocked(m: Manifest, errors: string[]): void {
  const registered = existsSync(MOUNTPOINT_REGISTRY)
    ? readdirSync(MOUNTPOINT_REGISTRY).map((f) => decodeURIComponent(f))
    : [];
  const created = [
    ...new Set([...m.resources.flatMap((r) => (r.kind === 'mountpoint' ? [r.path] : [])), ...registered]),
  ];
  if (!created.length) return;
  const busy = mountPointsEverywhere();
  const forget = (p: string) => rmSync(join(MOUNTPOINT_REGISTRY, encodeURIComponent(p)), { force: true });
  for (const p of [...created].sort((a, b) => b.split('/').length - a.split('/').length)) {
    try {
      if (!existsSync(p) || !statSync(p).isDirectory()) {
        forget(p);
        continue;
      }
      if (busy.has(p) || readdirSync(p).length) continue;
      rmdirSync(p);
      forget(p);
    } catch (e) {
      errors.push(`mount point ${p}: ${(e as Error).message}`);
    }
  }
  try {
    if (existsSync(MOUNTPOINT_REGISTRY) && !readdirSync(MOUNTPOINT_REGISTRY).length)
      rmdirSync(MOUNTPOINT_REGISTRY);
  } catch {
    /* another lab registered one meanwhile */
  }
}
