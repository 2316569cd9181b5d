// The lab's manifest: a JSON file in the lab's state directory listing everything the lab created.
// Each thing is recorded BEFORE it is created (a namespace, a process, a file), so `lab down` finds and
// removes all of it even when `lab up` was killed halfway. Written atomically (temp file + rename).
import {
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  openSync,
  closeSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';

export type Resource =
  | { kind: 'netns'; name: string; role: 'vpc' | 'internet' | 'node' | 'pod' }
  /** pid is set right after spawn; a process without pid is found through its namespace. */
  | { kind: 'process'; name: string; netns: string; pid?: number }
  | { kind: 'dir'; path: string }
  /** A directory the lab created on the host as a mount point of a kubelet node (removed when empty). */
  | { kind: 'mountpoint'; path: string }
  /** A kubelet node's persistent mount namespace, bound to a file (lab/k8s/node.ts). */
  | { kind: 'mntns'; path: string; node: string };

export interface NodeRecord {
  name: string;
  netns: string;
  instanceId: string;
  instanceType: string;
  primaryInterfaceId: string;
  primaryAddress: string;
  mac: string;
  subnetCidr: string;
  /** The instance's availability zone (set by clouds that say). */
  zone?: string;
  /** A kubelet node (lab up --kubernetes): its mount namespace, containerd socket and where the node's
   * fixed paths (/var/lib/kubelet, /etc/cni/net.d, ...) really live. */
  kube?: { mntns: string; containerdSocket: string; fsRoot: string; providerId: string };
  /** Daemon socket, state dir and log, all under the lab's state directory. */
  socket: string;
  dir: string;
}

export interface PodRecord {
  name: string;
  node: string;
  netns: string;
  containerId: string;
  ifname: string;
  /** The plugin's ADD result (the prevResult of DEL). */
  result?: unknown;
  address?: string;
}

export interface LabOptions {
  nodes: number;
  instanceType: string;
  policy: string;
  /** The lab's cloud: 'sim' (lab/sim-cloud.ts); other providers register in lab/cli.ts. */
  provider: string;
  /** Extra environment for every daemon (e.g. WARM_IP_TARGET=1). */
  env: Record<string, string>;
  /** Extra arguments for the cloud's server (sim: e.g. --latency realistic --latency-scale 0.1;
   *  localstack: --ec2-fidelity). */
  cloudArgs?: string[];
  /** 'none': the nodes get no tidepool-ipamd (another CNI's agent is started on them instead). */
  daemon?: 'tidepool' | 'none';
  /** A Kubernetes control plane in the vpc namespace with Tidepool's chart installed (lab/k8s/lab.ts). */
  kubernetes?: boolean;
}

export interface Manifest {
  version: 1;
  prefix: string;
  stateDir: string;
  createdAt: string;
  options: LabOptions;
  vpcCidrs: string[];
  resources: Resource[];
  nodes: NodeRecord[];
  pods: PodRecord[];
  /** Set when `lab up` finished. */
  ready: boolean;
}

export class LabNotFoundError extends Error {
  constructor(dir: string) {
    super(`no lab in ${dir} (run \`tidepoolctl lab up\` first, or pass the same --prefix)`);
    this.name = 'LabNotFoundError';
  }
}

export function manifestPath(stateDir: string): string {
  return join(stateDir, 'manifest.json');
}

export function readManifest(stateDir: string): Manifest {
  let text: string;
  try {
    text = readFileSync(manifestPath(stateDir), 'utf8');
  } catch {
    throw new LabNotFoundError(stateDir);
  }
  return JSON.parse(text) as Manifest;
}

export function writeManifest(m: Manifest): void {
  const path = manifestPath(m.stateDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(m, null, 2) + '\n');
  renameSync(tmp, path);
}

export function createManifest(stateDir: string, prefix: string, options: LabOptions): Manifest {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const m: Manifest = {
    version: 1,
    prefix,
    stateDir,
    createdAt: new Date().toISOString(),
    options,
    vpcCidrs: [],
    resources: [{ kind: 'dir', path: stateDir }],
    nodes: [],
    pods: [],
    ready: false,
  };
  writeManifest(m);
  return m;
}

/** Records a resource (before creating it) and persists the manifest. */
export function record(m: Manifest, r: Resource): Resource {
  m.resources.push(r);
  writeManifest(m);
  return r;
}

/**
 * A lock on the lab (one `lab` command changes it at a time): an exclusive lock file holding the owner's
 * pid; a lock whose owner is gone is taken over.
 */
export async function withLabLock<T>(stateDir: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const path = join(stateDir, 'lock');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      closeSync(openSync(path, 'wx'));
      writeFileSync(path, String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (lockIsStale(path)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`lab ${stateDir} is locked by another command (${path})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

function lockIsStale(path: string): boolean {
  try {
    const pid = Number(readFileSync(path, 'utf8'));
    if (!pid) return Date.now() - statSync(path).mtimeMs > 2000;
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'EPERM';
  }
}
