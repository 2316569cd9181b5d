// A real Kubernetes control plane inside a network namespace: etcd, kube-apiserver, kube-controller-manager
// and kube-scheduler v1.37.2 (built by scripts/k8s/build.sh into /var/cache/tidepool/k8s/v1.37.2/bin), with
// a PKI made by openssl in the state directory. Every process runs under `nsenter --net=<netns>`, so the
// apiserver listens only inside that namespace (nodes in the lab reach it at its address there) and dials
// kubelets there too; nothing of it is in the root namespace. kubectl and helm run the same way (kubectl(),
// helm()). Processes are tracked by PID and stopped by PID.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const K8S_VERSION = '1.37.2';
export const K8S_BIN = process.env.TIDEPOOL_K8S_BIN ?? `/var/cache/tidepool/k8s/v${K8S_VERSION}/bin`;
export const K8S_STAMP = join(K8S_BIN, '..', '.complete');

/** Throws, naming the missing piece and the command that makes it, unless the binaries are built. */
export function requireK8sBinaries(): void {
  if (!existsSync(K8S_STAMP))
    throw new Error(
      `the Kubernetes v${K8S_VERSION} binaries are not built (${K8S_STAMP} missing): run scripts/setup.sh ` +
        '(scripts/k8s/build.sh; the first build takes about 26-60 min)',
    );
}

export interface ControlPlaneOptions {
  /** /run/netns/<name> of the namespace the control plane runs in. */
  netnsPath: string;
  /** Directory for the PKI, configs, etcd data and logs. */
  dir: string;
  /** The address the apiserver binds and advertises inside the namespace (nodes reach it there). */
  address: string;
  port?: number;
  /** Extra DNS names / addresses for the serving certificate. */
  sans?: string[];
  /** Marks every process (TIDEPOOL_LAB_ID) so the lab's teardown knows them. */
  labId?: string;
}

export class ControlPlane {
  readonly pki: string;
  readonly adminKubeconfig: string;
  readonly url: string;
  private procs: { name: string; proc: ChildProcess }[] = [];

  constructor(readonly o: ControlPlaneOptions) {
    this.pki = join(o.dir, 'pki');
    this.adminKubeconfig = join(o.dir, 'admin.kubeconfig');
    this.url = `https://${o.address}:${o.port ?? 6443}`;
  }

  get pids(): number[] {
    return this.procs.map((p) => p.proc.pid!).filter(Boolean);
  }

  private ssl(args: string[]) {
    execFileSync('openssl', args, { cwd: this.pki, stdio: 'pipe' });
  }

  /** A key and a certificate signed by the lab's CA: <name>.key, <name>.crt with extensions `ext`. */
  private issue(name: string, subj: string, ext: string): void {
    writeFileSync(join(this.pki, `${name}.ext`), ext);
    this.ssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      subj,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    ]);
    this.ssl([
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
      '30',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ]);
  }

  /** CA, apiserver serving certificate, client certificates (admin, controller-manager, scheduler, the
   * apiserver's kubelet client), the service-account key pair. */
  makePki(): void {
    mkdirSync(this.pki, { recursive: true });
    if (existsSync(join(this.pki, 'ca.crt'))) return;
    this.ssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=tidepool-lab-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ]);
    const sans = [
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'IP:127.0.0.1',
      'IP:10.96.0.1',
      `IP:${this.o.address}`,
      ...(this.o.sans ?? []),
    ];
    this.issue(
      'apiserver',
      '/CN=kube-apiserver',
      `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth\n`,
    );
    const client = 'extendedKeyUsage=clientAuth\n';
    this.issue('admin', '/O=system:masters/CN=kubernetes-admin', client);
    this.issue('apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', client);
    this.issue('controller-manager', '/CN=system:kube-controller-manager', client);
    this.issue('scheduler', '/CN=system:kube-scheduler', client);
    this.ssl(['genrsa', '-out', 'sa.key', '2048']);
    this.ssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  }

  /** A kubelet's client certificate (CN system:node:NAME, O system:nodes, so the Node authorizer knows it)
   * and its kubeconfig in `file`. */
  nodeKubeconfig(node: string, file: string): string {
    const name = `kubelet-${node}`;
    if (!existsSync(join(this.pki, `${name}.crt`))) {
      this.issue(name, `/O=system:nodes/CN=system:node:${node}`, 'extendedKeyUsage=clientAuth\n');
    }
    return this.kubeconfig(file, { cert: name });
  }

  /** A kubeconfig for a client certificate of the PKI (or a token). */
  kubeconfig(file: string, user: { cert?: string; token?: string }): string {
    const auth = user.cert
      ? `    client-certificate: ${join(this.pki, user.cert + '.crt')}\n    client-key: ${join(this.pki, user.cert + '.key')}\n`
      : `    token: ${user.token}\n`;
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: ${this.url}
    certificate-authority: ${join(this.pki, 'ca.crt')}
users:
- name: u
  user:
${auth}contexts:
- name: lab
  context: {cluster: lab, user: u}
current-context: lab
`,
    );
    return file;
  }

  private start(name: string, argv: string[]): ChildProcess {
    const log = openSync(join(this.o.dir, `${name}.log`), 'a');
    const proc = spawn(
      'nsenter',
      [`--net=${this.o.netnsPath}`, '--', join(K8S_BIN, argv[0]), ...argv.slice(1)],
      {
        stdio: ['ignore', log, log],
        detached: true,
        env: { PATH: `${K8S_BIN}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: this.o.dir },
      },
    );
    closeSync(log);
    // Detached and unreferenced: `lab up` exits once the cluster is up and leaves these running (a
    // referenced child kept the CLI's event loop alive: the known bug of `lab up --kubernetes`).
    proc.unref();
    this.procs.push({ name, proc });
    return proc;
  }

  log(name: string): string {
    const f = join(this.o.dir, `${name}.log`);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  private async waitFor(what: string, check: () => boolean, timeoutMs: number, proc?: ChildProcess) {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      if (proc && proc.exitCode !== null)
        throw new Error(`${what} exited (${proc.exitCode}):\n${this.log(what).slice(-3000)}`);
      if (Date.now() > end)
        throw new Error(`${what} not ready after ${timeoutMs} ms:\n${this.log(what).slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Starts etcd and the apiserver (and, unless apiOnly, the controller manager and the scheduler).
   * disableAdmissionPlugins: e.g. ServiceAccount, for an apiserver without a controller manager. */
  async up(opts: { apiOnly?: boolean; disableAdmissionPlugins?: string[] } = {}): Promise<void> {
    requireK8sBinaries();
    mkdirSync(this.o.dir, { recursive: true });
    this.makePki();
    const d = this.o.dir;
    const p = this.pki;
    const etcd = this.start('etcd', [
      'etcd',
      '--name',
      'lab',
      '--data-dir',
      join(d, 'etcd'),
      '--listen-client-urls',
      'http://127.0.0.1:2379',
      '--advertise-client-urls',
      'http://127.0.0.1:2379',
      '--listen-peer-urls',
      'http://127.0.0.1:2380',
      '--initial-advertise-peer-urls',
      'http://127.0.0.1:2380',
      '--initial-cluster',
      'lab=http://127.0.0.1:2380',
      '--listen-metrics-urls',
      'http://127.0.0.1:2381',
      '--unsafe-no-fsync',
    ]);
    await this.waitFor('etcd', () => this.log('etcd').includes('serving client traffic'), 60_000, etcd);
    const api = this.start('kube-apiserver', [
      'kube-apiserver',
      '--etcd-servers=http://127.0.0.1:2379',
      `--bind-address=${this.o.address}`,
      `--secure-port=${this.o.port ?? 6443}`,
      `--advertise-address=${this.o.address}`,
      `--tls-cert-file=${p}/apiserver.crt`,
      `--tls-private-key-file=${p}/apiserver.key`,
      `--client-ca-file=${p}/ca.crt`,
      `--service-account-key-file=${p}/sa.pub`,
      `--service-account-signing-key-file=${p}/sa.key`,
      '--service-account-issuer=https://kubernetes.default.svc',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      '--endpoint-reconciler-type=none',
      `--kubelet-client-certificate=${p}/apiserver-kubelet-client.crt`,
      `--kubelet-client-key=${p}/apiserver-kubelet-client.key`,
      '--kubelet-preferred-address-types=InternalIP',
      `--cert-dir=${d}/apiserver-certs`,
      '--profiling=false',
      ...(opts.disableAdmissionPlugins?.length
        ? [`--disable-admission-plugins=${opts.disableAdmissionPlugins.join(',')}`]
        : []),
    ]);
    this.kubeconfig(this.adminKubeconfig, { cert: 'admin' });
    await this.waitFor(
      'kube-apiserver',
      () => this.kubectl(['get', '--raw', '/readyz']).status === 0,
      180_000,
      api,
    );
    if (opts.apiOnly) return;
    const kcm = this.kubeconfig(join(d, 'controller-manager.kubeconfig'), { cert: 'controller-manager' });
    const kcmProc = this.start('kube-controller-manager', [
      'kube-controller-manager',
      `--kubeconfig=${kcm}`,
      `--authentication-kubeconfig=${kcm}`,
      `--authorization-kubeconfig=${kcm}`,
      '--bind-address=127.0.0.1',
      '--leader-elect=false',
      `--service-account-private-key-file=${p}/sa.key`,
      `--root-ca-file=${p}/ca.crt`,
      '--use-service-account-credentials=true',
      `--cluster-signing-cert-file=${p}/ca.crt`,
      `--cluster-signing-key-file=${p}/ca.key`,
      '--controllers=*,-nodeipam',
    ]);
    const sch = this.kubeconfig(join(d, 'scheduler.kubeconfig'), { cert: 'scheduler' });
    this.start('kube-scheduler', [
      'kube-scheduler',
      `--kubeconfig=${sch}`,
      `--authentication-kubeconfig=${sch}`,
      `--authorization-kubeconfig=${sch}`,
      '--bind-address=127.0.0.1',
      '--leader-elect=false',
    ]);
    // The default ServiceAccount exists once the controller manager's token controllers run.
    await this.waitFor(
      'kube-controller-manager',
      () => this.kubectl(['get', 'sa', 'default']).status === 0,
      120_000,
      kcmProc,
    );
  }

  /** kubectl v1.37.2 inside the control plane's namespace, as the admin (or with extra flags). */
  kubectl(args: string[], input?: string, kubeconfig = this.adminKubeconfig) {
    return spawnSync('nsenter', this.kubectlArgv(args, kubeconfig).slice(1), {
      encoding: 'utf8',
      input,
      env: this.kubectlEnv(),
      timeout: 120_000,
    });
  }

  /** The argv (nsenter … kubectl …) and environment that run kubectl in the namespace as the admin. */
  kubectlArgv(args: string[], kubeconfig = this.adminKubeconfig): string[] {
    return [
      'nsenter',
      `--net=${this.o.netnsPath}`,
      '--',
      join(K8S_BIN, 'kubectl'),
      `--kubeconfig=${kubeconfig}`,
      ...args,
    ];
  }

  kubectlEnv(): NodeJS.ProcessEnv {
    return { PATH: `${K8S_BIN}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: this.o.dir };
  }

  /** kubectl that throws with its stderr unless it succeeds; returns stdout. */
  kc(args: string[], input?: string): string {
    const r = this.kubectl(args, input);
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr || r.error}`);
    return r.stdout;
  }

  /** helm v3.22.0 inside the namespace, against this cluster, writing only under the state directory. */
  helm(args: string[]) {
    const home = join(this.o.dir, 'helm');
    mkdirSync(home, { recursive: true });
    return spawnSync(
      'nsenter',
      [
        `--net=${this.o.netnsPath}`,
        '--',
        join(K8S_BIN, 'helm'),
        `--kubeconfig=${this.adminKubeconfig}`,
        ...args,
      ],
      {
        encoding: 'utf8',
        env: {
          PATH: `${K8S_BIN}:/usr/sbin:/usr/bin:/sbin:/bin`,
          HOME: home,
          XDG_CACHE_HOME: join(home, 'cache'),
          XDG_CONFIG_HOME: join(home, 'config'),
          XDG_DATA_HOME: join(home, 'data'),
        },
        timeout: 300_000,
      },
    );
  }

  /** Stops every process by PID, the last started first (scheduler, controller manager, apiserver, etcd). */
  async down(): Promise<void> {
    for (const { proc } of [...this.procs].reverse()) {
      if (proc.exitCode !== null || proc.signalCode !== null) continue;
      proc.kill('SIGTERM');
      const end = Date.now() + 10_000;
      while (proc.exitCode === null && proc.signalCode === null && Date.now() < end)
        await new Promise((r) => setTimeout(r, 100));
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    this.procs = [];
  }
}
