// A real Kubernetes control plane for integration tests: etcd and kube-apiserver v1.37.2 started by the
// lab's ControlPlane (lab/k8s/control-plane.ts), inside a network namespace of the test's own (127.0.0.1
// there), with certificates made by openssl. No controller manager,
// scheduler or kubelet: tests create Node and Pod objects themselves (pods with spec.nodeName set, so no
// scheduler is needed; the ServiceAccount admission plugin is off, as no controller creates the default
// service accounts). Processes run in the namespace (reference kubernetes-on-one-machine.md 2) and the test
// reaches the API with kubectl run there too. stop() kills every process by its pid, deletes the namespace
// and the directory.
//
// The binaries come from the cache the repo's setup builds (/var/cache/tidepool/k8s/v1.37.2/bin, or
// TIDEPOOL_K8S_BIN).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, requireK8sBinaries } from '../../lab/k8s/control-plane.js';
import { Netns, run } from './netns.js';
import { TestNode, type DaemonOptions, type SimOptions } from './daemon.js';

/**
 * The lab's control plane (lab/k8s/control-plane.ts) with only etcd and the apiserver, on 127.0.0.1 of a
 * namespace of the test's own, and the ServiceAccount admission plugin off (no controller manager makes the
 * default service accounts the test's pods would need).
 */
export class KubeControlPlane {
  readonly kubeconfig: string;

  private constructor(
    readonly dir: string,
    readonly ns: Netns,
    private readonly cp: ControlPlane,
  ) {
    this.kubeconfig = cp.adminKubeconfig;
  }

  static async start(): Promise<KubeControlPlane> {
    requireK8sBinaries();
    const dir = mkdtempSync(join(tmpdir(), 'tp-kube-'));
    const ns = Netns.create('kube');
    const cp = new KubeControlPlane(
      dir,
      ns,
      new ControlPlane({ netnsPath: ns.path, dir, address: '127.0.0.1' }),
    );
    try {
      await cp.cp.up({ apiOnly: true, disableAdmissionPlugins: ['ServiceAccount'] });
      return cp;
    } catch (err) {
      await cp.stop();
      throw err;
    }
  }

  /** kubectl in the namespace, as the admin. */
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const [cmd, ...argv] = this.cp.kubectlArgv(args);
    return run(cmd, argv, input, this.cp.kubectlEnv());
  }

  /** kubectl that must succeed; returns stdout. */
  async k(args: string[], input?: string): Promise<string> {
    const r = await this.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  async getJson<T = any>(args: string[]): Promise<T> {
    return JSON.parse(await this.k([...args, '-o', 'json'])) as T;
  }

  apply(obj: object): Promise<string> {
    return this.k(['apply', '-f', '-'], JSON.stringify(obj));
  }

  async stop(): Promise<void> {
    await this.cp.down();
    await this.ns.cleanup();
    if (!process.env.TIDEPOOL_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface KubeNodeOptions extends DaemonOptions, SimOptions {
  zone?: string;
  instanceType?: string;
  /** Labels and annotations of the Node besides zone and instance type. */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Taints registered with the node (the kubelet's --register-with-taints); default the startup taint. */
  taints?: { key: string; value?: string; effect: string }[];
}

export const STARTUP_TAINT = { key: 'tidepool.io/network-unavailable', effect: 'NoSchedule' };

/**
 * A Node object as a kubelet would register it (providerID aws:///<zone>/<instance>), and a sim cloud plus a
 * daemon for it, the daemon in the control plane's namespace with KUBECONFIG and MY_NODE_NAME (not started).
 * The daemon gets no TIDEPOOL_SIM_INSTANCE_ID: it must take its instance from the Node.
 */
export async function kubeNode(
  cp: KubeControlPlane,
  name: string,
  o: KubeNodeOptions = {},
): Promise<TestNode> {
  const instanceId = `i-${name.replace(/[^a-z0-9]/g, '')}${Math.random().toString(16).slice(2, 8)}`;
  const zone = o.zone ?? 'us-east-1a';
  await cp.apply({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'topology.kubernetes.io/zone': zone,
        'node.kubernetes.io/instance-type': o.instanceType ?? 'm5.large',
        ...o.labels,
      },
      annotations: o.annotations ?? {},
    },
    spec: { providerID: `aws:///${zone}/${instanceId}`, taints: o.taints ?? [STARTUP_TAINT] },
  });
  const n = await TestNode.create({
    ...o,
    instanceId,
    start: false,
    env: {
      KUBECONFIG: cp.kubeconfig,
      MY_NODE_NAME: name,
      TIDEPOOL_SIM_INSTANCE_ID: '',
      TIDEPOOL_SIM_INSTANCE_TYPE: 'c5.24xlarge',
      TIDEPOOL_NAMESPACE: 'kube-system',
      ...o.env,
    },
  });
  n.daemon.wrap = ['ip', 'netns', 'exec', cp.ns.name];
  return n;
}

/** Polls fn until it returns a value (not undefined), up to timeoutMs; the last error or value in the message. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms (${String(last ?? '')})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export const NETWORK_READY = 'tidepool.io/NetworkReady';

export async function networkCondition(cp: KubeControlPlane, node: string): Promise<any | undefined> {
  const n = await cp.getJson(['get', 'node', node]);
  return (n.status?.conditions ?? []).find((c: { type: string }) => c.type === NETWORK_READY);
}

export async function nodeEvents(cp: KubeControlPlane, node: string): Promise<any[]> {
  const list = await cp.getJson([
    'get',
    'events',
    '-n',
    'default',
    '--field-selector',
    `involvedObject.name=${node}`,
  ]);
  return list.items;
}
