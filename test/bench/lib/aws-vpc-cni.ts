// The real AWS VPC CNI (v1.23.2: aws-k8s-agent, its ipamd, and routed-eni-cni-plugin installed as aws-cni)
// on a lab node, for the benchmarks (reference aws-vpc-cni-real-on-localstack.md). The lab is brought up
// on LocalStack with the EC2 fidelity layer and without tidepool-ipamd; the agent then runs
//   - in the node's network namespace (started like the lab's daemons, so `lab down` finds and kills it):
//     its rules, routes, iptables/nftables chains and sysctls land there, never in the root namespace;
//   - in a mount namespace of its own (unshare --mount, propagation slave), where its fixed paths
//     /var/run/aws-node (the gRPC socket ipamd.sock, the checkpoint ipam.json) and
//     /var/log/aws-routed-eni are bind mounts of directories under the node's lab directory; the empty
//     mount points are made in the root filesystem only if missing and removed afterwards;
//   - with no Kubernetes API (no kubeconfig at all, so it proceeds at once), and
//     AWS_MANAGE_ENIS_NON_SCHEDULABLE=true, which avoids v1.23.2's nil-client crash in
//     isNodeNonSchedulable without an API server;
//   - reaching EC2 (the fidelity layer) and IMDS only at the node subnet's gateway, as Tidepool's daemon does.
// Its plugin is run through the lab's own CNI caller (lab/plugin.ts runPlugin), entering the agent's mount
// and network namespaces with nsenter. The agent finds each ENI's link by MAC: the lab's fabric already
// creates eth0 and every hot-plugged ethN with the ENI's MAC, as it does for Tidepool.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, Client, Metadata } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { subnetGateway } from '../../../config/net.js';
import type { LabHandle } from '../../../demo/lab-adapter.js';
import { LAB_EC2_PORT, LAB_IMDS_PORT } from '../../../lab/localstack-cloud.js';
import type { Conflist } from '../../../lab/conflist.js';
import { record, writeManifest, type NodeRecord } from '../../../lab/manifest.js';
import { alive, runCommand, spawnInNetns } from '../../../lab/netns.js';
import type { PluginRunner } from '../../../lab/plugin.js';

export const AWS_VPC_CNI_VERSION = 'v1.23.2';
/** The version string the cached build reports (empty: see encodeAddNetwork). */
export const BUILT_VERSION_STRING = '';
/** The agent's hard-coded paths (pkg/ipamd/rpc_handler.go, ipamd.go; cmd/routed-eni-cni-plugin/cni.go). */
export const AGENT_RUN_DIR = '/var/run/aws-node';
export const AGENT_LOG_DIR = '/var/log/aws-routed-eni';
export const INTROSPECTION_PORT = 61679;

export interface BuiltCni {
  binDir: string;
  /** Seconds the build took in this run; undefined when the cache already held it. */
  builtSecs?: number;
  /** The cache's own note of the first build (e.g. "v1.23.2 built in 640s on ..."). */
  note: string;
}

/** Builds (or finds cached) the real AWS VPC CNI with scripts/build-aws-vpc-cni.sh. */
export function ensureAwsVpcCni(root: string, log: (l: string) => void): BuiltCni {
  const t0 = Date.now();
  log(`building or finding aws-vpc-cni ${AWS_VPC_CNI_VERSION} (scripts/build-aws-vpc-cni.sh)`);
  const r = spawnSync('bash', [join(root, 'scripts', 'build-aws-vpc-cni.sh')], {
    env: { ...process.env, AWS_VPC_CNI_VERSION },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0)
    throw new Error(
      `scripts/build-aws-vpc-cni.sh failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-15).join('\n')}`,
    );
  const binDir = r.stdout.trim().split('\n').pop()!;
  const built = /^BUILD aws-vpc-cni-first-build (\d+) s$/m.exec(r.stderr ?? '');
  const note = existsSync(join(binDir, '..', '.complete'))
    ? readFileSync(join(binDir, '..', '.complete'), 'utf8').trim()
    : '';
  return {
    binDir,
    builtSecs: built ? Number(built[1]) : undefined,
    note: note || `${(Date.now() - t0) / 1000} s`,
  };
}

export interface AgentEnvOptions {
  nodeName: string;
  /** The node's subnet (its gateway is where the lab serves EC2 and IMDS to the node). */
  subnetCidr: string;
  clusterName: string;
  warmEniTarget?: number;
  /** Extra or overriding settings. */
  extra?: Record<string, string>;
}

/**
 * The agent's environment: the v1.23.2 DaemonSet's values (config/master/aws-k8s-cni.yaml) with the
 * differences the reference names — ENABLE_IPv4 set (the code's default is false), the log on stdout,
 * AWS_MANAGE_ENIS_NON_SCHEDULABLE=true (the nil-client crash), NETWORK_POLICY_ENFORCING_MODE unset (no
 * network-policy agent) — and the lab's endpoints and static credentials (it never asks IMDS for them).
 */
export function agentEnv(o: AgentEnvOptions): Record<string, string> {
  const gw = subnetGateway(o.subnetCidr);
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ADDITIONAL_ENI_TAGS: '{}',
    AWS_VPC_CNI_NODE_PORT_SUPPORT: 'true',
    AWS_VPC_ENI_MTU: '9001',
    AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: 'false',
    AWS_VPC_K8S_CNI_EXTERNALSNAT: 'false',
    AWS_VPC_K8S_CNI_LOGLEVEL: 'DEBUG',
    AWS_VPC_K8S_CNI_LOG_FILE: 'stdout',
    AWS_VPC_K8S_CNI_RANDOMIZESNAT: 'prng',
    AWS_VPC_K8S_CNI_VETHPREFIX: 'eni',
    AWS_VPC_K8S_CNI_BACKING_STORE: `${AGENT_RUN_DIR}/ipam.json`,
    AWS_VPC_K8S_PLUGIN_LOG_FILE: `${AGENT_LOG_DIR}/plugin.log`,
    AWS_VPC_K8S_PLUGIN_LOG_LEVEL: 'DEBUG',
    DISABLE_INTROSPECTION: 'false',
    DISABLE_METRICS: 'false',
    DISABLE_NETWORK_RESOURCE_PROVISIONING: 'false',
    ENABLE_IMDS_ONLY_MODE: 'false',
    ENABLE_IPv4: 'true',
    ENABLE_IPv6: 'false',
    ENABLE_MULTI_NIC: 'false',
    ENABLE_POD_ENI: 'false',
    ENABLE_PREFIX_DELEGATION: 'false',
    ENABLE_SUBNET_DISCOVERY: 'true',
    VPC_CNI_VERSION: AWS_VPC_CNI_VERSION,
    WARM_ENI_TARGET: String(o.warmEniTarget ?? 1),
    WARM_PREFIX_TARGET: '1',
    MY_NODE_NAME: o.nodeName,
    CLUSTER_NAME: o.clusterName,
    AWS_MANAGE_ENIS_NON_SCHEDULABLE: 'true',
    AWS_EC2_ENDPOINT: `http://${gw}:${LAB_EC2_PORT}`,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://${gw}:${LAB_IMDS_PORT}`,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    ...o.extra,
  };
}

/** The plugin's network configuration (misc/10-aws.conflist's aws-cni entry; egress-cni and portmap left out). */
export function awsConflist(pluginLogFile: string): Conflist {
  return {
    cniVersion: '0.4.0',
    name: 'aws-cni',
    plugins: [
      {
        name: 'aws-cni',
        type: 'aws-cni',
        vethPrefix: 'eni',
        mtu: '9001',
        podSGEnforcingMode: 'strict',
        pluginLogFile,
        pluginLogLevel: 'DEBUG',
      },
    ],
  };
}

/** The shell the agent's mount namespace runs: bind its fixed directories, then exec the agent. */
export function mountNamespaceScript(binds: { source: string; target: string }[], agent: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    'set -e',
    ...binds.map((b) => `mount --bind ${q(b.source)} ${q(b.target)}`),
    `exec ${q(agent)}`,
  ].join('\n');
}

/** Free and total addresses from the agent's introspection /v1/enis (keyed by network card). */
export function poolFromIntrospection(json: string): {
  total: number;
  assigned: number;
  free: number;
  enis: number;
} {
  const cards = JSON.parse(json) as Record<
    string,
    { TotalIPs: number; AssignedIPs: number; ENIs: Record<string, unknown> }
  >;
  let total = 0;
  let assigned = 0;
  let enis = 0;
  for (const c of Object.values(cards)) {
    total += c.TotalIPs;
    assigned += c.AssignedIPs;
    enis += Object.keys(c.ENIs ?? {}).length;
  }
  return { total, assigned, free: total - assigned, enis };
}

// The two messages of rpc/rpc.proto (CNIBackend.AddNetwork) a holder needs, by field number.
const rpcRoot = protobuf.Root.fromJSON({
  nested: {
    rpc: {
      nested: {
        AddNetworkRequest: {
          fields: {
            K8S_POD_NAME: { type: 'string', id: 1 },
            K8S_POD_NAMESPACE: { type: 'string', id: 2 },
            K8S_POD_INFRA_CONTAINER_ID: { type: 'string', id: 3 },
            Netns: { type: 'string', id: 4 },
            IfName: { type: 'string', id: 5 },
            NetworkName: { type: 'string', id: 6 },
            ContainerID: { type: 'string', id: 7 },
            ClientVersion: { type: 'string', id: 8 },
          },
        },
        IPAllocationMetadata: {
          fields: { IPv4Addr: { type: 'string', id: 1 }, DeviceNumber: { type: 'int32', id: 3 } },
        },
        AddNetworkReply: {
          fields: {
            Success: { type: 'bool', id: 1 },
            IPAllocationMetadata: { rule: 'repeated', type: 'IPAllocationMetadata', id: 2 },
          },
        },
      },
    },
  },
});
const AddReq = rpcRoot.lookupType('rpc.AddNetworkRequest');
const AddReply = rpcRoot.lookupType('rpc.AddNetworkReply');

export function encodeAddNetwork(name: string): Buffer {
  return Buffer.from(
    AddReq.encode(
      AddReq.create({
        K8S_POD_NAME: name,
        K8S_POD_NAMESPACE: 'default',
        K8S_POD_INFRA_CONTAINER_ID: name,
        ContainerID: name,
        IfName: 'eth0',
        NetworkName: 'aws-cni',
        Netns: `/var/run/netns/${name}`,
        // ipamd refuses a client whose version differs from its own (rpc_handler.go). The build leaves
        // both binaries' version empty (scripts/build-aws-vpc-cni.sh's -X does not name the variable the
        // Makefile sets), so its plugin sends "" too; a holder must match.
        ClientVersion: BUILT_VERSION_STRING,
      }),
    ).finish(),
  );
}

export function decodeAddReply(b: Buffer): { success: boolean; addresses: string[] } {
  const r = AddReply.toObject(AddReply.decode(b), { defaults: true }) as {
    Success: boolean;
    IPAllocationMetadata: { IPv4Addr: string }[];
  };
  return { success: r.Success, addresses: r.IPAllocationMetadata.map((m) => m.IPv4Addr).filter(Boolean) };
}

export class RealAgent {
  private grpc: Client | null = null;

  constructor(
    readonly lab: LabHandle,
    readonly node: NodeRecord,
    readonly pid: number,
    readonly binDir: string,
    readonly runDir: string,
    readonly logFile: string,
    private readonly createdMountPoints: string[],
  ) {}

  /** How the lab's CNI caller runs aws-cni: in the agent's mount namespace and the node's network one. */
  runner(): PluginRunner {
    return {
      argv: ['nsenter', '-t', String(this.pid), '-m', '-n', '--', join(this.binDir, 'aws-cni')],
      conflist: awsConflist(`${AGENT_LOG_DIR}/plugin.log`),
      cniPath: this.binDir,
    };
  }

  /** The agent's ipamd socket, seen from the root mount namespace (the bind mount's source). */
  get socket(): string {
    return join(this.runDir, 'ipamd.sock');
  }

  async pool(): Promise<{ total: number; assigned: number; free: number; enis: number }> {
    const r = await runCommand(
      [
        'ip',
        'netns',
        'exec',
        this.node.netns,
        'curl',
        '-sf',
        '-m',
        '3',
        `http://127.0.0.1:${INTROSPECTION_PORT}/v1/enis`,
      ],
      { timeoutMs: 5000 },
    );
    if (r.code !== 0) throw new Error(`the agent's introspection did not answer: ${r.stderr.trim()}`);
    return poolFromIntrospection(r.stdout);
  }

  /** One AddNetwork over the agent's gRPC socket, as its plugin sends it; resolves with the address. */
  addNetwork(name: string, timeoutMs = 30_000): Promise<string> {
    this.grpc ??= new Client(`unix:${this.socket}`, credentials.createInsecure());
    return new Promise((resolve, reject) => {
      this.grpc!.makeUnaryRequest(
        '/rpc.CNIBackend/AddNetwork',
        (b: Buffer) => b,
        (b: Buffer) => decodeAddReply(b),
        encodeAddNetwork(name),
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, reply) => {
          if (err) return reject(err);
          if (!reply?.success || !reply.addresses.length)
            return reject(new Error(`AddNetwork ${name}: the agent answered Success=${reply?.success}`));
          resolve(reply.addresses[0]);
        },
      );
    });
  }

  alive(): boolean {
    return alive(this.pid);
  }

  /** Stops the agent (SIGKILL: it ignores SIGTERM and keeps running) and removes the mount points it needed. */
  async stop(): Promise<void> {
    this.grpc?.close();
    this.grpc = null;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    const deadline = Date.now() + 5000;
    while (alive(this.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    removeMountPoints(this.createdMountPoints);
  }
}

/** Removes mount-point directories this run created, if empty (the bind mounts died with the namespace). */
export function removeMountPoints(dirs: string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      if (existsSync(d) && readdirSync(d).length === 0) rmdirSync(d);
    } catch {
      /* still in use by a namespace that is going away; lab down runs this again */
    }
  }
}

/** Creates `dir` and any missing parents; returns the ones it created (outermost first). */
function mkdirs(dir: string): string[] {
  const made: string[] = [];
  const parts = dir.split('/').filter(Boolean);
  let cur = '';
  for (const p of parts) {
    cur += `/${p}`;
    if (!existsSync(cur)) {
      mkdirSync(cur);
      made.push(cur);
    }
  }
  return made;
}

/** Starts the real agent on `node` of a lab brought up with daemon 'none' on LocalStack. */
export async function startRealAgent(
  lab: LabHandle,
  node: NodeRecord,
  binDir: string,
  o: { clusterName: string; warmEniTarget?: number; log: (l: string) => void },
): Promise<RealAgent> {
  const m = lab.manifest;
  const base = join(node.dir, 'aws-vpc-cni');
  const runDir = join(base, 'run-aws-node');
  const logDir = join(base, 'log-aws-routed-eni');
  mkdirSync(runDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  // The mount points must exist for a bind mount; made here only when missing, removed afterwards.
  const created = [...mkdirs('/run/aws-node'), ...mkdirs(AGENT_LOG_DIR)];
  const env = agentEnv({
    nodeName: node.name,
    subnetCidr: node.subnetCidr,
    clusterName: o.clusterName,
    warmEniTarget: o.warmEniTarget,
  });
  writeFileSync(
    join(base, 'agent.env'),
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  const script = mountNamespaceScript(
    [
      { source: runDir, target: '/run/aws-node' },
      { source: logDir, target: AGENT_LOG_DIR },
    ],
    join(binDir, 'aws-k8s-agent'),
  );
  // What the DaemonSet's init container (cmd/aws-vpc-cni-init) does on the host, here in the node's
  // namespace: rp_filter loose on the primary interface, TCP early demux on; and IPv4 forwarding, which the
  // chain's egress-cni turns on (this harness runs aws-cni alone, as the lab runs Tidepool's plugin alone).
  const sys = await runCommand([
    'ip',
    'netns',
    'exec',
    node.netns,
    'sysctl',
    '-qw',
    'net.ipv4.conf.eth0.rp_filter=2',
    'net.ipv4.tcp_early_demux=1',
    'net.ipv4.ip_forward=1',
  ]);
  if (sys.code !== 0) throw new Error(`the node's sysctls for aws-k8s-agent: ${sys.stderr.trim()}`);
  const name = `aws-k8s-agent-${node.name}`;
  const logFile = join(m.stateDir, `${name}.log`);
  const r = record(m, { kind: 'process', name, netns: node.netns });
  const p = spawnInNetns(node.netns, ['unshare', '--mount', '--propagation', 'slave', 'sh', '-c', script], {
    env,
    logFile,
    labId: m.stateDir,
  });
  if (r.kind === 'process') r.pid = p.pid;
  writeManifest(m);
  const agent = new RealAgent(lab, node, p.pid, binDir, runDir, logFile, created);
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (!agent.alive()) {
      const tail = existsSync(logFile)
        ? readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-20).join('\n    ')
        : '';
      await agent.stop();
      throw new Error(`aws-k8s-agent exited during start (see ${logFile}):\n    ${tail}`);
    }
    if (existsSync(agent.socket)) {
      try {
        const pool = await agent.pool();
        if (pool.total > 0) {
          o.log(
            `aws-k8s-agent on ${node.name} serves (pid ${p.pid}): ${pool.total} addresses on ${pool.enis} ENI(s)`,
          );
          return agent;
        }
      } catch {
        /* not yet */
      }
    }
    if (Date.now() > deadline) {
      await agent.stop();
      throw new Error(`aws-k8s-agent on ${node.name} did not serve within 90 s (see ${logFile})`);
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}
