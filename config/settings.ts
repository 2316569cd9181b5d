// Every setting Tidepool reads, from environment variables, validated into one typed object.
// Names follow the AWS VPC CNI where the meaning is the same (reference aws-vpc-cni.md section 2),
// with its defaults and precedence; Tidepool's own settings are TIDEPOOL_*.
// Unlike the incumbent, which silently replaces an invalid value with the default, Tidepool refuses
// bad configuration: loadSettings() throws a ConfigError naming every invalid variable, its value and
// the rule, and the daemon exits before touching anything.
import { z } from 'zod';
import { isIPv4Cidr } from './net.js';

const BOOL_TRUE = ['true', '1', 'yes', 'on'];
const BOOL_FALSE = ['false', '0', 'no', 'off', ''];

const bool = (def: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return def;
      const s = v.trim().toLowerCase();
      if (BOOL_TRUE.includes(s)) return true;
      if (BOOL_FALSE.includes(s)) return s === '' ? def : false;
      ctx.addIssue({ code: 'custom', message: 'must be true or false' });
      return z.NEVER;
    });

const int = (def: number, min: number, max = Number.MAX_SAFE_INTEGER, what = 'an integer') =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      if (!/^-?\d+$/.test(v.trim())) {
        ctx.addIssue({ code: 'custom', message: `must be ${what} between ${min} and ${max}` });
        return z.NEVER;
      }
      const n = Number(v.trim());
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be ${what} between ${min} and ${max}` });
        return z.NEVER;
      }
      return n;
    });

const str = (def: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? def : v));

const oneOf = <T extends string>(def: T, values: readonly T[]) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return def;
      const s = v.trim().toLowerCase() as T;
      if (!values.includes(s)) {
        ctx.addIssue({ code: 'custom', message: `must be one of ${values.join(', ')}` });
        return z.NEVER;
      }
      return s;
    });

const hostPort = (def: string) =>
  str(def).superRefine((v, ctx) => {
    const m = /^(.+):(\d{1,5})$/.exec(v);
    if (!m || Number(m[2]) > 65535) ctx.addIssue({ code: 'custom', message: 'must be host:port' });
  });

const cidrList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (!v || v.trim() === '') return [] as string[];
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = items.filter((c) => !isIPv4Cidr(c));
    if (bad.length) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a comma-separated list of IPv4 CIDRs (bad: ${bad.join(', ')})`,
      });
      return z.NEVER;
    }
    return items;
  });

const tagMap = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (!v || v.trim() === '') return {} as Record<string, string>;
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of string tags, e.g. {"team":"net"}' });
      return z.NEVER;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of string tags' });
      return z.NEVER;
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof val !== 'string') {
        ctx.addIssue({ code: 'custom', message: `tag ${k} must have a string value` });
        return z.NEVER;
      }
      // As the incumbent does: keys in the reserved k8s.amazonaws.com namespace are dropped.
      if (!k.includes('k8s.amazonaws.com')) out[k] = val;
    }
    return out;
  });

const vethPrefix = str('eni').superRefine((v, ctx) => {
  if (v.length > 4 || !/^[a-zA-Z][a-zA-Z0-9]*$/.test(v))
    ctx.addIssue({ code: 'custom', message: 'must be 1 to 4 letters or digits, starting with a letter' });
  else if (['eth', 'vlan', 'lo'].includes(v))
    ctx.addIssue({ code: 'custom', message: 'must not be eth, vlan or lo (names the host already uses)' });
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuid = str('').superRefine((v, ctx) => {
  if (v && !UUID.test(v))
    ctx.addIssue({ code: 'custom', message: 'must be a GUID, e.g. 00000000-0000-0000-0000-000000000000' });
});

// Azure resource group names: 1-90 letters, digits, _ - . ( ), not ending in a period.
const resourceGroup = str('').superRefine((v, ctx) => {
  if (v && (!/^[-\w.()]{1,90}$/.test(v) || v.endsWith('.')))
    ctx.addIssue({
      code: 'custom',
      message: 'must be 1 to 90 letters, digits, _ - . ( ), not ending in a period',
    });
});

const httpsUrl = (def: string) =>
  str(def).superRefine((v, ctx) => {
    let u: URL | null = null;
    try {
      u = new URL(v);
    } catch {
      // reported below
    }
    if (!u || u.protocol !== 'https:' || u.pathname.replace(/\/+$/, '') !== '' || u.search)
      ctx.addIssue({
        code: 'custom',
        message: 'must be an https:// URL with no path, e.g. https://management.azure.com',
      });
  });

const envSchema = z.object({
  WARM_ENI_TARGET: int(1, 0),
  WARM_IP_TARGET: int(0, 0),
  MINIMUM_IP_TARGET: int(0, 0),
  // Code default 0, shipped manifest 1: Tidepool defaults to the manifest's value, which users run.
  WARM_PREFIX_TARGET: int(1, 0),
  ENABLE_PREFIX_DELEGATION: bool(false),
  MAX_ENI: int(-1, -1, 100),
  IP_COOLDOWN_PERIOD: int(30, 0, 86400, 'a number of seconds'),
  AWS_VPC_ENI_MTU: int(9001, 576, 9001),
  POD_MTU: int(0, 576, 9001),
  AWS_VPC_K8S_CNI_VETHPREFIX: vethPrefix,
  AWS_VPC_K8S_CNI_EXTERNALSNAT: bool(false),
  AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: cidrList,
  AWS_VPC_K8S_CNI_RANDOMIZESNAT: oneOf('prng', ['prng', 'hashrandom', 'none'] as const),
  AWS_VPC_K8S_CNI_CONNMARK: str('0x80').superRefine((v, ctx) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff)
      ctx.addIssue({ code: 'custom', message: 'must be a positive 32-bit mark, e.g. 0x80' });
  }),
  CLUSTER_NAME: str('').superRefine((v, ctx) => {
    if (v && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,99}$/.test(v))
      ctx.addIssue({ code: 'custom', message: 'must be letters, digits, _ . - (at most 100)' });
  }),
  ADDITIONAL_ENI_TAGS: tagMap,
  ENABLE_SUBNET_DISCOVERY: bool(true),
  DISABLE_LEAKED_ENI_CLEANUP: bool(false),
  AWS_EC2_ENDPOINT: str(''),
  AWS_ENDPOINT_URL_EC2: str(''),
  TIDEPOOL_IMDS_ENDPOINT: str('http://169.254.169.254'),
  // Azure (TIDEPOOL_PROVIDER=azure). Empty subscription and resource group: the VM's own, from IMDS.
  // AZURE_CLIENT_ID is the Azure SDKs' name for a user-assigned managed identity's client id.
  AZURE_SUBSCRIPTION_ID: uuid,
  AZURE_RESOURCE_GROUP: resourceGroup,
  AZURE_CLIENT_ID: uuid,
  AZURE_ARM_ENDPOINT: httpsUrl('https://management.azure.com'),
  AWS_VPC_K8S_CNI_LOGLEVEL: oneOf('info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const),
  AWS_VPC_K8S_CNI_LOG_FILE: str('stdout'),
  AWS_VPC_K8S_PLUGIN_LOG_FILE: str('/var/log/tidepool/plugin.log').superRefine((v, ctx) => {
    if (v === 'stdout')
      ctx.addIssue({ code: 'custom', message: 'must not be stdout: stdout carries the CNI result' });
  }),
  AWS_VPC_K8S_PLUGIN_LOG_LEVEL: oneOf('info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const),
  DISABLE_INTROSPECTION: bool(false),
  DISABLE_METRICS: bool(false),
  MY_NODE_NAME: str(''),
  TIDEPOOL_PROVIDER: oneOf('aws', ['sim', 'aws', 'azure'] as const),
  TIDEPOOL_SOCKET: str('/run/tidepool/ipamd.sock'),
  // Bounds of the gRPC socket, so that one misbehaving local client cannot freeze or bloat the daemon.
  TIDEPOOL_GRPC_MAX_CONNECTIONS: int(64, 1, 65536, 'a number of connections'),
  TIDEPOOL_GRPC_IDLE_TIMEOUT_MS: int(30_000, 100, 86_400_000, 'a number of milliseconds'),
  TIDEPOOL_GRPC_CONNECTION_MEMORY_MIB: int(4, 1, 1024, 'a number of MiB'),
  TIDEPOOL_GRPC_MAX_MESSAGE_BYTES: int(1_048_576, 1024, 67_108_864, 'a number of bytes'),
  TIDEPOOL_GRPC_MAX_CONCURRENT_STREAMS: int(128, 1, 65536, 'a number of streams'),
  TIDEPOOL_STATE_DIR: str('/var/run/tidepool'),
  TIDEPOOL_INTROSPECTION_ADDR: hostPort('127.0.0.1:61679'),
  TIDEPOOL_METRICS_ADDR: hostPort('127.0.0.1:61678'),
  TIDEPOOL_POOL_POLICY: oneOf('aws-compatible', ['aws-compatible', 'adaptive'] as const),
  // Comparison mode for benchmarks and the demo: reproduces the incumbent's pool (one pre-scaling round
  // before it serves; then an ADD fails at once on an empty pool; a pool round on a 5 s tick, one step per
  // round, no early round; cooling addresses count as available; no subnet scarcity mode). Never for production.
  TIDEPOOL_COMPARISON_MODE: oneOf('off', ['off', 'incumbent'] as const),
  TIDEPOOL_ADD_WAIT_MS: int(10000, 0, 600000, 'a number of milliseconds'),
  // Subnet scarcity mode (issue 14): below this share of a subnet's addresses left free, its nodes keep
  // no buffer beyond their own demand and release idle addresses first; 0 turns the mode off.
  TIDEPOOL_SUBNET_SCARCITY_PERCENT: int(10, 0, 100, 'a percentage'),
  TIDEPOOL_SIM_INSTANCE_TYPE: str('m5.large'),
  TIDEPOOL_SIM_ENDPOINT: str('/run/tidepool/sim.sock'),
  TIDEPOOL_SIM_INSTANCE_ID: str(''),
  TIDEPOOL_SIM_ZONE: str(''),
  TIDEPOOL_MANAGE_HOST_NETWORK: bool(true),
  TIDEPOOL_PRIMARY_INTERFACE: str(''),
  // Release allocations whose host veth is gone (a DEL that ran while the daemon was down); auto follows
  // TIDEPOOL_MANAGE_HOST_NETWORK. The audit period and grace are test/tuning knobs.
  TIDEPOOL_RELEASE_ORPHANS: oneOf('auto', ['auto', 'true', 'false'] as const),
  TIDEPOOL_ORPHAN_AUDIT_MS: int(60_000, 100, 86_400_000, 'a number of milliseconds'),
  TIDEPOOL_ORPHAN_GRACE_MS: int(60_000, 0, 86_400_000, 'a number of milliseconds'),
  TIDEPOOL_QUARANTINE_MS: int(600_000, 0, 86_400_000, 'a number of milliseconds'),
  // The Kubernetes API (ipamd/kube/): in-cluster when KUBERNETES_SERVICE_HOST is set, else KUBECONFIG.
  TIDEPOOL_KUBERNETES: oneOf('auto', ['auto', 'true', 'false'] as const),
  KUBECONFIG: str(''),
  KUBERNETES_SERVICE_HOST: str(''),
  // Set both to reach the API server without the kubernetes Service's ClusterIP (a cluster without
  // kube-proxy, as the lab's): the in-cluster client reads them as given.
  KUBERNETES_SERVICE_PORT: str(''),
  TIDEPOOL_NAMESPACE: str('kube-system'),
  TIDEPOOL_CNI_CONF_DIR: str(''),
  TIDEPOOL_CNI_CONFLIST_NAME: str('10-tidepool.conflist').superRefine((v, ctx) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*\.conflist$/.test(v))
      ctx.addIssue({ code: 'custom', message: 'must be a file name ending in .conflist' });
  }),
  TIDEPOOL_CNI_VERSION: oneOf('1.1.0', ['1.1.0', '1.0.0'] as const),
  TIDEPOOL_CNI_PORTMAP: bool(true),
  TIDEPOOL_CNI_STATUS_GRACE_SECONDS: int(30, 0, 600, 'a number of seconds'),
  TIDEPOOL_POD_GONE_GRACE_MS: int(60_000, 0, 86_400_000, 'a number of milliseconds'),
  TIDEPOOL_LEASE_DURATION_MS: int(15_000, 1_000, 600_000, 'a number of milliseconds'),
  AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: bool(false),
  // Test/tuning knobs of the leaked-interface sweep (ipamd/sweeper.ts): period, minimum age of an interface.
  TIDEPOOL_SWEEP_PERIOD_MS: int(3_600_000, 100, 86_400_000, 'a number of milliseconds'),
  TIDEPOOL_SWEEP_MIN_AGE_MS: int(300_000, 0, 86_400_000, 'a number of milliseconds'),
  ENI_CONFIG_LABEL_DEF: str('k8s.amazonaws.com/eniConfig'),
  ENI_CONFIG_ANNOTATION_DEF: str('k8s.amazonaws.com/eniConfig'),
});

/** The Azure pool's targets when the operator sets none (see loadSettings). */
export const AZURE_DEFAULT_WARM_IP_TARGET = 8;
export const AZURE_DEFAULT_MINIMUM_IP_TARGET = 16;

export type Env = Record<string, string | undefined>;

export interface Settings {
  pool: {
    warmEniTarget: number;
    warmIpTarget: number;
    minimumIpTarget: number;
    warmPrefixTarget: number;
    prefixDelegation: boolean;
    /** -1 = no cap beyond the instance type's. */
    maxEni: number;
    cooldownMs: number;
    policy: 'aws-compatible' | 'adaptive';
    comparisonMode: 'off' | 'incumbent';
    addWaitMs: number;
    /** Subnet scarcity threshold, % of the subnet's usable addresses left free; 0 = off. */
    scarcityPercent: number;
  };
  network: {
    eniMtu: number;
    podMtu: number;
    vethPrefix: string;
    externalSnat: boolean;
    excludeSnatCidrs: string[];
    randomizeSnat: 'prng' | 'hashrandom' | 'none';
    connmark: number;
    manageHostNetwork: boolean;
    /** Host interface name of the primary interface; empty = find it by the cloud's MAC. */
    primaryInterface: string;
    /** Release allocations whose host veth is gone (TIDEPOOL_RELEASE_ORPHANS, auto resolved). */
    releaseOrphans: boolean;
    /** Period of the host veth audit, and the age an allocation needs before the audit may release it. */
    orphanAuditMs: number;
    orphanGraceMs: number;
    /**
     * After a lost state database: how long an address the cloud shows on the node's interfaces, but that
     * no host veth, route and rule prove held, stays out of the pool (ipamd/recovery.ts).
     */
    quarantineMs: number;
  };
  cloud: {
    provider: 'sim' | 'aws' | 'azure';
    clusterName: string;
    additionalEniTags: Record<string, string>;
    subnetDiscovery: boolean;
    leakedEniCleanup: boolean;
    sweepPeriodMs: number;
    sweepMinAgeMs: number;
    ec2Endpoint: string;
    imdsEndpoint: string;
    simInstanceType: string;
    simEndpoint: string;
    simInstanceId: string;
    azure: {
      subscriptionId: string;
      resourceGroup: string;
      clientId: string;
      armEndpoint: string;
    };
    /** Zone to launch the sim instance in (default: the sim's choice; on Kubernetes, the Node's zone). */
    simZone: string;
  };
  daemon: {
    nodeName: string;
    socket: string;
    /** Bounds of the gRPC socket (ipamd/serve/grpc.ts). */
    grpc: GrpcLimits;
    stateDir: string;
    introspectionAddr: string | null;
    metricsAddr: string | null;
    logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
    logFile: string;
    pluginLogFile: string;
    pluginLogLevel: string;
  };
  kube: KubeSettings;
}

export interface KubeSettings {
  /** TIDEPOOL_KUBERNETES resolved: auto = in a cluster (KUBERNETES_SERVICE_HOST) or KUBECONFIG set. */
  enabled: boolean;
  /** In-cluster service-account config when set; else the kubeconfig file. */
  inCluster: boolean;
  kubeconfig: string;
  /** MY_NODE_NAME: the Node this daemon reads, marks ready and untaints (its own only). */
  nodeName: string;
  /** The daemon's namespace (the sweeper's Lease lives there). */
  namespace: string;
  /** Where the conflist is written once the pool can serve; empty: not written. */
  cniConfDir: string;
  conflistName: string;
  cniVersion: '1.1.0' | '1.0.0';
  portmap: boolean;
  /** The conflist's statusGraceSeconds: STATUS stays ready this long after the daemon's last ready beat. */
  statusGraceSeconds: number;
  /** How long a pod must be gone (or finished) before its allocation is released. */
  podGoneGraceMs: number;
  leaseDurationMs: number;
  /** AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: new interfaces use the node's ENIConfig subnet and groups. */
  customNetwork: boolean;
  eniConfigLabel: string;
  eniConfigAnnotation: string;
}

export interface GrpcLimits {
  /** Open connections at once; one more is closed as soon as it is accepted. */
  maxConnections: number;
  /** A connection with no call in flight for this long is closed (GOAWAY), one that never spoke HTTP/2 too. */
  idleTimeoutMs: number;
  /** What one connection may hold (nghttp2's session memory: buffered frames, header tables, streams). */
  connectionMemoryBytes: number;
  /** The largest request message; a larger one is refused with RESOURCE_EXHAUSTED before it is decoded. */
  maxMessageBytes: number;
  maxConcurrentStreams: number;
}

/** Defaults of the gRPC socket's bounds (the settings' defaults), for servers made without settings. */
export const DEFAULT_GRPC_LIMITS: GrpcLimits = {
  maxConnections: 64,
  idleTimeoutMs: 30_000,
  connectionMemoryBytes: 4 << 20,
  maxMessageBytes: 1 << 20,
  maxConcurrentStreams: 128,
};

export interface ConfigIssue {
  variable: string;
  value: string | undefined;
  rule: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(
      'invalid configuration:\n' +
        issues.map((i) => `  ${i.variable}=${JSON.stringify(i.value ?? '')}: ${i.rule}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** Reads and validates every setting; throws ConfigError listing all invalid variables at once. */
export function loadSettings(env: Env = process.env): Settings {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      const variable = String(i.path[0]);
      return { variable, value: env[variable], rule: i.message };
    });
    throw new ConfigError(issues);
  }
  const e = parsed.data;
  const issues: ConfigIssue[] = [];
  // As the incumbent's entrypoint: prefix mode with every target at 0 would never allocate.
  if (
    e.ENABLE_PREFIX_DELEGATION &&
    e.WARM_PREFIX_TARGET <= 0 &&
    e.WARM_IP_TARGET <= 0 &&
    e.MINIMUM_IP_TARGET <= 0
  )
    issues.push({
      variable: 'WARM_PREFIX_TARGET',
      value: env.WARM_PREFIX_TARGET,
      rule: 'with ENABLE_PREFIX_DELEGATION=true, one of WARM_PREFIX_TARGET, WARM_IP_TARGET, MINIMUM_IP_TARGET must be > 0',
    });
  const podMtu = e.POD_MTU || e.AWS_VPC_ENI_MTU;
  const kube = kubeSettings(e, env, issues);
  if (issues.length) throw new ConfigError(issues);
  const disabledOr = (off: boolean, addr: string) => (off ? null : addr);
  // On Azure a running VM's NICs are fixed, so WARM_ENI_TARGET=1 would hold a whole NIC (up to 255
  // addresses) idle on every node. With neither WARM_IP_TARGET nor MINIMUM_IP_TARGET set (0, as the incumbent
  // reads them), the Azure pool keeps Azure CNI's figures instead: 16 at start, at least 8 free (its batch
  // and its request threshold; reference azure-cni-and-cilium-ipam.md, the pool scaler).
  const azureWarm =
    e.TIDEPOOL_PROVIDER === 'azure' &&
    !e.ENABLE_PREFIX_DELEGATION &&
    e.WARM_IP_TARGET <= 0 &&
    e.MINIMUM_IP_TARGET <= 0;
  return {
    pool: {
      warmEniTarget: e.WARM_ENI_TARGET,
      warmIpTarget: azureWarm ? AZURE_DEFAULT_WARM_IP_TARGET : e.WARM_IP_TARGET,
      minimumIpTarget: azureWarm ? AZURE_DEFAULT_MINIMUM_IP_TARGET : e.MINIMUM_IP_TARGET,
      warmPrefixTarget: e.WARM_PREFIX_TARGET,
      prefixDelegation: e.ENABLE_PREFIX_DELEGATION,
      maxEni: e.MAX_ENI < 1 ? -1 : e.MAX_ENI,
      cooldownMs: e.IP_COOLDOWN_PERIOD * 1000,
      policy: e.TIDEPOOL_POOL_POLICY,
      comparisonMode: e.TIDEPOOL_COMPARISON_MODE,
      addWaitMs: e.TIDEPOOL_ADD_WAIT_MS,
      scarcityPercent: e.TIDEPOOL_SUBNET_SCARCITY_PERCENT,
    },
    network: {
      eniMtu: e.AWS_VPC_ENI_MTU,
      podMtu,
      vethPrefix: e.AWS_VPC_K8S_CNI_VETHPREFIX,
      externalSnat: e.AWS_VPC_K8S_CNI_EXTERNALSNAT,
      excludeSnatCidrs: e.AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS,
      randomizeSnat: e.AWS_VPC_K8S_CNI_RANDOMIZESNAT,
      connmark: Number(e.AWS_VPC_K8S_CNI_CONNMARK),
      manageHostNetwork: e.TIDEPOOL_MANAGE_HOST_NETWORK,
      primaryInterface: e.TIDEPOOL_PRIMARY_INTERFACE,
      releaseOrphans:
        e.TIDEPOOL_RELEASE_ORPHANS === 'auto'
          ? e.TIDEPOOL_MANAGE_HOST_NETWORK
          : e.TIDEPOOL_RELEASE_ORPHANS === 'true',
      orphanAuditMs: e.TIDEPOOL_ORPHAN_AUDIT_MS,
      orphanGraceMs: e.TIDEPOOL_ORPHAN_GRACE_MS,
      quarantineMs: e.TIDEPOOL_QUARANTINE_MS,
    },
    cloud: {
      provider: e.TIDEPOOL_PROVIDER,
      clusterName: e.CLUSTER_NAME,
      additionalEniTags: e.ADDITIONAL_ENI_TAGS,
      subnetDiscovery: e.ENABLE_SUBNET_DISCOVERY,
      leakedEniCleanup: !e.DISABLE_LEAKED_ENI_CLEANUP,
      sweepPeriodMs: e.TIDEPOOL_SWEEP_PERIOD_MS,
      sweepMinAgeMs: e.TIDEPOOL_SWEEP_MIN_AGE_MS,
      ec2Endpoint: e.AWS_EC2_ENDPOINT || e.AWS_ENDPOINT_URL_EC2,
      imdsEndpoint: e.TIDEPOOL_IMDS_ENDPOINT,
      simInstanceType: e.TIDEPOOL_SIM_INSTANCE_TYPE,
      simEndpoint: e.TIDEPOOL_SIM_ENDPOINT,
      simInstanceId: e.TIDEPOOL_SIM_INSTANCE_ID,
      azure: {
        subscriptionId: e.AZURE_SUBSCRIPTION_ID.toLowerCase(),
        resourceGroup: e.AZURE_RESOURCE_GROUP,
        clientId: e.AZURE_CLIENT_ID,
        armEndpoint: e.AZURE_ARM_ENDPOINT.replace(/\/+$/, ''),
      },
      simZone: e.TIDEPOOL_SIM_ZONE,
    },
    daemon: {
      nodeName: e.MY_NODE_NAME,
      socket: e.TIDEPOOL_SOCKET,
      grpc: {
        maxConnections: e.TIDEPOOL_GRPC_MAX_CONNECTIONS,
        idleTimeoutMs: e.TIDEPOOL_GRPC_IDLE_TIMEOUT_MS,
        connectionMemoryBytes: e.TIDEPOOL_GRPC_CONNECTION_MEMORY_MIB << 20,
        maxMessageBytes: e.TIDEPOOL_GRPC_MAX_MESSAGE_BYTES,
        maxConcurrentStreams: e.TIDEPOOL_GRPC_MAX_CONCURRENT_STREAMS,
      },
      stateDir: e.TIDEPOOL_STATE_DIR,
      introspectionAddr: disabledOr(e.DISABLE_INTROSPECTION, e.TIDEPOOL_INTROSPECTION_ADDR),
      metricsAddr: disabledOr(e.DISABLE_METRICS, e.TIDEPOOL_METRICS_ADDR),
      logLevel: e.AWS_VPC_K8S_CNI_LOGLEVEL,
      logFile: e.AWS_VPC_K8S_CNI_LOG_FILE,
      pluginLogFile: e.AWS_VPC_K8S_PLUGIN_LOG_FILE,
      pluginLogLevel: e.AWS_VPC_K8S_PLUGIN_LOG_LEVEL,
    },
    kube,
  };
}

function kubeSettings(e: z.infer<typeof envSchema>, env: Env, issues: ConfigIssue[]): KubeSettings {
  const inCluster = e.KUBERNETES_SERVICE_HOST !== '';
  const configured = inCluster || e.KUBECONFIG !== '';
  const enabled = e.TIDEPOOL_KUBERNETES === 'auto' ? configured : e.TIDEPOOL_KUBERNETES === 'true';
  if (enabled && !configured)
    issues.push({
      variable: 'TIDEPOOL_KUBERNETES',
      value: env.TIDEPOOL_KUBERNETES,
      rule: 'true needs a cluster: run in a pod (KUBERNETES_SERVICE_HOST) or set KUBECONFIG',
    });
  if (enabled && !e.MY_NODE_NAME)
    issues.push({
      variable: 'MY_NODE_NAME',
      value: env.MY_NODE_NAME,
      rule: 'must name this node (downward API spec.nodeName) when the Kubernetes API is used',
    });
  if (e.AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG && !enabled)
    issues.push({
      variable: 'AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG',
      value: env.AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG,
      rule: 'custom networking reads ENIConfig objects: it needs the Kubernetes API (TIDEPOOL_KUBERNETES)',
    });
  return {
    enabled,
    inCluster,
    kubeconfig: e.KUBECONFIG,
    nodeName: e.MY_NODE_NAME,
    namespace: e.TIDEPOOL_NAMESPACE,
    cniConfDir: e.TIDEPOOL_CNI_CONF_DIR,
    conflistName: e.TIDEPOOL_CNI_CONFLIST_NAME,
    cniVersion: e.TIDEPOOL_CNI_VERSION as KubeSettings['cniVersion'],
    portmap: e.TIDEPOOL_CNI_PORTMAP,
    statusGraceSeconds: e.TIDEPOOL_CNI_STATUS_GRACE_SECONDS,
    podGoneGraceMs: e.TIDEPOOL_POD_GONE_GRACE_MS,
    leaseDurationMs: e.TIDEPOOL_LEASE_DURATION_MS,
    customNetwork: e.AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG,
    eniConfigLabel: e.ENI_CONFIG_LABEL_DEF,
    eniConfigAnnotation: e.ENI_CONFIG_ANNOTATION_DEF,
  };
}

/** Names of every environment variable Tidepool reads (for the README's reference and `tidepoolctl`). */
export const SETTING_NAMES = Object.keys(envSchema.shape);
