// A real Kubernetes control plane for integration tests: etcd and kube-apiserver v1.37.2, inside a network
// namespace of the test's own (127.0.0.1 there), with certificates made by openssl. No controller manager,
// scheduler or kubelet: tests create Node and Pod objects themselves (pods with spec.nodeName set, so no
// scheduler is needed; the ServiceAccount admission plugin is off, as no controller creates the default
// service accounts). Processes run in the namespace (reference kubernetes-on-one-machine.md 2) and the test
// reaches the API with kubectl run there too. stop() kills every process by its pid, deletes the namespace
// and the directory.
//
// The binaries come from the cache the repo's setup builds (/var/cache/tidepool/k8s/v1.37.2/bin, or
// TIDEPOOL_K8S_BIN); etcd from there or Debian's etcd-server.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, run } from './netns.js';
import { Proc, TestNode, type DaemonOptions, type SimOptions } from './daemon.js';

export const K8S_VERSION = 'v1.37.2';
export const K8S_BIN = process.env.TIDEPOOL_K8S_BIN ?? `/var/cache/tidepool/k8s/${K8S_VERSION}/bin`;

export function findEtcd(): string | null {
  for (const p of [join(K8S_BIN, 'etcd'), '/usr/bin/etcd']) if (existsSync(p)) return p;
  return null;
}

/** What is missing to run a control plane here, or null when everything is. */
export function controlPlaneMissing(): string | null {
  const missing = ['kube-apiserver', 'kubectl'].filter((b) => !existsSync(join(K8S_BIN, b)));
  if (!findEtcd()) missing.push('etcd');
  return missing.length
    ? `missing in ${K8S_BIN}: ${missing.join(', ')} (scripts/setup.sh builds them)`
    : null;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** CA, apiserver serving cert (127.0.0.1), admin client cert (system:masters), service-account key pair. */
function makePki(dir: string): void {
  openssl(['genrsa', '-out', 'ca.key', '2048'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      '/CN=tidepool-test-ca',
      '-days',
      '2',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' +
      'extendedKeyUsage=serverAuth\n',
  );
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, subj, ext] of [
    ['apiserver', '/CN=kube-apiserver', 'server.ext'],
    ['admin', '/O=system:masters/CN=admin', 'client.ext'],
  ]) {
    openssl(['genrsa', '-out', `${name}.key`, '2048'], dir);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', subj, '-out', `${name}.csr`], dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        ext,
        '-out',
        `${name}.crt`,
      ],
      dir,
    );
  }
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

export class KubeControlPlane {
  readonly kubeconfig: string;
  private readonly procs: Proc[] = [];

  private constructor(
    readonly dir: string,
    readonly ns: Netns,
  ) {
    this.kubeconfig = join(dir, 'admin.kubeconfig');
  }

  static async start(): Promise<KubeControlPlane> {
    const missing = controlPlaneMissing();
    if (missing) throw new Error(`no Kubernetes control plane: ${missing}`);
    const dir = mkdtempSync(join(tmpdir(), 'tp-kube-'));
    const ns = Netns.create('kube');
    const cp = new KubeControlPlane(dir, ns);
    try {
      makePki(dir);
      writeFileSync(
        cp.kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [
            {
              name: 'test',
              cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority': join(dir, 'ca.crt') },
            },
          ],
          users: [
            {
              name: 'admin',
              user: { 'client-certificate': join(dir, 'admin.crt'), 'client-key': join(dir, 'admin.key') },
            },
          ],
          contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin' } }],
          'current-context': 'test',
        }),
      );
      const etcd = findEtcd()!;
      const inNs = (argv: string[]) => ['ip', 'netns', 'exec', ns.name, ...argv];
      const env = {
        PATH: process.env.PATH ?? '',
        ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch,
      };
      cp.procs.push(
        Proc.run(
          inNs([
            etcd,
            '--name=default',
            `--data-dir=${join(dir, 'etcd')}`,
            '--listen-client-urls=http://127.0.0.1:2379',
            '--advertise-client-urls=http://127.0.0.1:2379',
            '--listen-peer-urls=http://127.0.0.1:2380',
            '--initial-advertise-peer-urls=http://127.0.0.1:2380',
            '--initial-cluster=default=http://127.0.0.1:2380',
            '--listen-metrics-urls=http://127.0.0.1:2381',
          ]),
          env,
          join(dir, 'etcd.log'),
        ),
      );
      cp.procs.push(
        Proc.run(
          inNs([
            join(K8S_BIN, 'kube-apiserver'),
            '--etcd-servers=http://127.0.0.1:2379',
            '--bind-address=127.0.0.1',
            '--secure-port=6443',
            '--advertise-address=127.0.0.1',
            '--endpoint-reconciler-type=none',
            `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
            `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
            `--client-ca-file=${join(dir, 'ca.crt')}`,
            `--service-account-key-file=${join(dir, 'sa.pub')}`,
            `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
            '--service-account-issuer=https://kubernetes.default.svc',
            '--service-cluster-ip-range=10.96.0.0/16',
            '--authorization-mode=Node,RBAC',
            '--disable-admission-plugins=ServiceAccount',
            `--cert-dir=${join(dir, 'apiserver-certs')}`,
            '--profiling=false',
          ]),
          env,
          join(dir, 'apiserver.log'),
        ),
      );
      const deadline = Date.now() + 90_000;
      for (;;) {
        const dead = cp.procs.find((p) => !p.alive);
        if (dead) throw new Error(`control plane process exited:\n${dead.log().slice(-2000)}`);
        const r = await cp.kubectl(['get', '--raw', '/readyz']);
        if (r.code === 0 && r.stdout.trim() === 'ok') break;
        if (Date.now() > deadline) throw new Error(`apiserver not ready after 90 s: ${r.stderr}`);
        await new Promise((res) => setTimeout(res, 250));
      }
      return cp;
    } catch (err) {
      await cp.stop();
      throw err;
    }
  }

  /** kubectl in the namespace, as the admin. */
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return run(
      'ip',
      ['netns', 'exec', this.ns.name, join(K8S_BIN, 'kubectl'), `--kubeconfig=${this.kubeconfig}`, ...args],
      input,
    );
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
    for (const p of this.procs.reverse()) await p.stop(3000);
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
