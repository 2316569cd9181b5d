// The cluster lab (`tidepoolctl lab up --kubernetes`, lab/k8s/) as the conformance run and the upgrade test
// use it: brought up and down through the lab's own CLI (a separate process, as an operator runs it), then
// driven from outside by what the lab records in <state>/manifest.json: each kubelet node's network
// namespace, persistent mount namespace and containerd socket, the control plane's admin kubeconfig in
// <state>/k8s. kubectl, helm and e2e.test run inside the lab's vpc namespace (where the apiserver listens);
// node commands run inside the node's mount and network namespaces. Nothing here runs in the root network
// namespace.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, run, type Run } from './lab.js';

export const K8S_BIN = process.env.TIDEPOOL_K8S_BIN ?? '/var/cache/tidepool/k8s/v1.37.2/bin';
const PATH = `${K8S_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

/** The part of the lab's manifest this helper reads (lab/manifest.ts). */
export interface ClusterNode {
  name: string;
  netns: string;
  primaryAddress: string;
  kube?: { mntns: string; containerdSocket: string; fsRoot: string };
}

export class ClusterLab {
  readonly lab: Lab;
  readonly k8sDir: string;
  readonly kubeconfig: string;
  readonly vpcNetns: string;

  constructor(readonly prefix: string) {
    this.lab = new Lab(prefix);
    this.k8sDir = join(this.lab.stateDir, 'k8s');
    this.kubeconfig = join(this.k8sDir, 'admin.kubeconfig');
    this.vpcNetns = `/run/netns/${prefix}vpc`;
  }

  get stateDir(): string {
    return this.lab.stateDir;
  }

  /** `lab up --kubernetes --nodes N [ARGS]`; throws with the CLI's stderr unless it succeeds. */
  async up(nodes: number, args: string[] = [], timeoutMs = 900_000): Promise<Run> {
    const r = await this.lab.run(['up', '--kubernetes', '--nodes', String(nodes), ...args], timeoutMs);
    if (r.code !== 0)
      throw new Error(`lab up --kubernetes failed (exit ${r.code}):\n${r.stderr.slice(-6000)}`);
    return r;
  }

  down(): Promise<Run> {
    return this.lab.run(['down'], 300_000);
  }

  /** The kubelet nodes of the lab (those with a containerd). */
  nodes(): ClusterNode[] {
    const m = JSON.parse(readFileSync(join(this.stateDir, 'manifest.json'), 'utf8')) as {
      nodes: ClusterNode[];
    };
    return m.nodes.filter((n) => n.kube);
  }

  private vpc(argv: string[], env: NodeJS.ProcessEnv = {}) {
    return (input?: string, timeoutMs = 120_000) =>
      spawnSync('nsenter', [`--net=${this.vpcNetns}`, '--', ...argv], {
        encoding: 'utf8',
        input,
        timeout: timeoutMs,
        maxBuffer: 64 << 20,
        env: { PATH, HOME: this.k8sDir, ...env },
      });
  }

  /** kubectl as the lab's admin; throws with its stderr unless it succeeds; returns stdout. */
  kubectl(args: string[], input?: string, timeoutMs?: number): string {
    const r = this.vpc([join(K8S_BIN, 'kubectl'), `--kubeconfig=${this.kubeconfig}`, ...args])(
      input,
      timeoutMs,
    );
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr || r.error}`);
    return r.stdout;
  }

  json<T = any>(args: string[]): T {
    return JSON.parse(this.kubectl([...args, '-o', 'json'])) as T;
  }

  /** helm against the lab's cluster, writing only under the lab's state directory. */
  helm(args: string[], timeoutMs = 600_000): string {
    const home = join(this.k8sDir, 'helm');
    mkdirSync(home, { recursive: true });
    const r = this.vpc([join(K8S_BIN, 'helm'), `--kubeconfig=${this.kubeconfig}`, ...args], {
      HOME: home,
      XDG_CACHE_HOME: join(home, 'cache'),
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_DATA_HOME: join(home, 'data'),
    })(undefined, timeoutMs);
    if (r.status !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr || r.error}`);
    return r.stdout;
  }

  /** Runs a command inside a kubelet node (its mount and network namespaces). */
  inNode(node: ClusterNode, argv: string[], timeoutMs = 120_000): Promise<Run> {
    if (!node.kube) throw new Error(`${node.name} is not a kubelet node`);
    return run(['nsenter', `--mount=${node.kube.mntns}`, `--net=/run/netns/${node.netns}`, '--', ...argv], {
      timeoutMs,
    });
  }

  async nodeMust(node: ClusterNode, argv: string[], timeoutMs?: number): Promise<string> {
    const r = await this.inNode(node, argv, timeoutMs);
    if (r.code !== 0) throw new Error(`${node.name}: ${argv.join(' ')} → exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  ctr(node: ClusterNode, args: string[], timeoutMs?: number): Promise<string> {
    return this.nodeMust(
      node,
      ['ctr', '-a', node.kube!.containerdSocket, '-n', 'k8s.io', ...args],
      timeoutMs,
    );
  }

  /** Image names in a node's containerd (the CRI's k8s.io namespace). */
  async images(node: ClusterNode): Promise<string[]> {
    return (await this.ctr(node, ['images', 'ls', '-q'])).split('\n').filter(Boolean);
  }

  /** Imports OCI archives into every kubelet node's containerd (the lab's `import-image`). */
  async importImage(...archives: string[]): Promise<void> {
    for (const a of archives) if (!existsSync(a)) throw new Error(`${a} does not exist`);
    await this.lab.must(['import-image', ...archives], 300_000);
  }

  /** Gives an image present on every node a second name (`ctr images tag`), unless it has it already. */
  async tagImage(source: string, target: string): Promise<void> {
    for (const n of this.nodes()) {
      const have = await this.images(n);
      if (have.includes(target)) continue;
      if (!have.includes(source))
        throw new Error(`${n.name} has no image ${source} (has ${have.join(', ')})`);
      await this.ctr(n, ['images', 'tag', source, target]);
    }
  }

  /** Starts a process in the vpc namespace with its output appended to a log file; resolves on exit. */
  spawnInVpc(argv: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Promise<number> {
    const fd = openSync(logFile, 'a');
    try {
      const child = spawn('nsenter', [`--net=${this.vpcNetns}`, '--', ...argv], {
        stdio: ['ignore', fd, fd],
        env: { PATH, HOME: this.k8sDir, ...env },
      });
      return new Promise((res) => {
        child.on('exit', (code, signal) => res(code ?? (signal ? 128 : 1)));
        child.on('error', () => res(127));
      });
    } finally {
      closeSync(fd);
    }
  }
}

/** Polls fn every 500 ms until it returns something truthy (returned), or throws naming `what` after timeoutMs. */
export async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
