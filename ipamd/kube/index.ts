// The daemon on the Kubernetes API (ARCHITECTURE section 8), loaded only when TIDEPOOL_KUBERNETES resolves
// to true (a pod's in-cluster configuration or KUBECONFIG). It is bundled apart (dist/lib/kube.js) so that a
// daemon outside Kubernetes never loads @kubernetes/client-node. What it does:
// - reads its Node (MY_NODE_NAME): zone, instance type and providerID, used instead of guessing (the sim
//   provider's instance) and checked against the cloud's description;
// - publishes readiness.ts's evaluation as the node condition tidepool.io/NetworkReady, and at the first
//   ready installs the conflist and removes the startup taint of its own node;
// - watches its node's pods and releases allocations of pods that are gone (pods.ts);
// - places new interfaces by the node's ENIConfig (custom networking) and records Events on exhaustion,
//   subnet full and missing permissions;
// - runs the leaked-interface sweep only while it holds the sweeper Lease.
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type V1Node } from '@kubernetes/client-node';
import { renderConflist } from '../../config/conflist.js';
import type { Settings } from '../../config/settings.js';
import type { NodeInfo, Provider } from '../../providers/types.js';
import type { Allocation, AllocationKey } from '../core/types.js';
import { apiMessage, loadKubeConfig } from './client.js';
import { ConflistInstaller } from './conflist.js';
import {
  ENICONFIG_GROUP,
  ENICONFIG_PLURAL,
  ENICONFIG_VERSION,
  EniConfigError,
  eniConfigName,
  parseEniConfig,
  type EniConfigSpec,
} from './eniconfig.js';
import { NodeEvents } from './events.js';
import { LeaseElector } from './lease.js';
import { identityMismatches, nodeIdentity, type NodeIdentity } from './node-identity.js';
import { NodeStatusWriter } from './node-status.js';
import { PodWatch, type PodDirectory } from './pods.js';
import { withKubeHooks } from './provider.js';
import type { Readiness } from './readiness.js';

export { NETWORK_READY_CONDITION } from './readiness.js';
export { STARTUP_TAINT } from './node-status.js';
export type { PodDirectory } from './pods.js';

export const SWEEPER_LEASE = 'tidepool-sweeper';
const COMPONENT = 'tidepool-ipamd';

export interface KubeLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

/** What the integration needs from the running daemon (kept narrow: the daemon's files are being moved). */
export interface DaemonHooks {
  allocations: () => Allocation[];
  release: (key: AllocationKey, reason: string) => Promise<unknown>;
  /** The cloud's description of this node, once known. */
  cloudNode: () => NodeInfo | undefined;
  readiness: {
    current: Readiness;
    changed(): Readiness;
    onChange(f: (r: Readiness) => void): () => void;
  };
  /** A fresh sweeper for each term as leader (null: the sweep is disabled). */
  sweeper: (() => { start(): void; stop(): Promise<void> }) | null;
}

export interface KubeIntegration {
  /** The Node as read at start, or null when the API did not answer in time. */
  readonly node: NodeIdentity | null;
  readonly pods: PodDirectory;
  /** Settings with what the Node says instead of guesses (the sim provider's instance id and type). */
  applyNodeIdentity(settings: Settings): Settings;
  wrapProvider(provider: Provider): Provider;
  /** Starts publishing readiness, the pod watch and the Lease; call once the daemon serves. */
  start(hooks: DaemonHooks): void;
  /** An Allocate failed (the core's observer reason): exhaustion becomes an Event. */
  allocateFailed(reason: string, message: string): void;
  /** Publishes the stopping condition (bounded wait), hands back the Lease, stops the watch. */
  stop(timeoutMs?: number): Promise<void>;
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms).unref(),
    ),
  ]);

export async function connectKube(settings: Settings, log: KubeLog): Promise<KubeIntegration> {
  const s = settings.kube;
  const kc = loadKubeConfig(s);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  // The sim provider with no TIDEPOOL_SIM_INSTANCE_ID learns its instance from the Node's providerID (a
  // DaemonSet has one env for every node); without it the daemon would guess, so it waits for its Node.
  const needsInstance = settings.cloud.provider === 'sim' && !settings.cloud.simInstanceId;
  let nodeObject: V1Node | undefined;
  const readDeadline = Date.now() + (needsInstance ? 60_000 : 0);
  for (;;) {
    try {
      nodeObject = await withTimeout(
        core.readNode({ name: s.nodeName }),
        5_000,
        `reading node ${s.nodeName}`,
      );
      break;
    } catch (err) {
      if (Date.now() < readDeadline) {
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      log.warn(
        { node: s.nodeName, err: apiMessage(err) },
        'cannot read this node yet; going on with the settings',
      );
      break;
    }
  }
  const node = nodeObject ? nodeIdentity(nodeObject) : null;
  if (needsInstance && !node?.instanceId)
    throw new Error(
      `TIDEPOOL_SIM_INSTANCE_ID is empty and ${node ? `Node ${s.nodeName} has no providerID of the form aws:///<zone>/<instance-id>` : `Node ${s.nodeName} could not be read`}: the daemon cannot tell which instance it runs on`,
    );
  if (node)
    log.info(
      { node: node.name, zone: node.zone, instanceType: node.instanceType, providerId: node.providerId },
      'node read',
    );
  const events = new NodeEvents({
    api: core,
    node: { name: s.nodeName, uid: node?.uid ?? '' },
    component: COMPONENT,
    log,
  });
  const status = new NodeStatusWriter(core, s.nodeName, nodeObject);
  const conflist = s.cniConfDir ? new ConflistInstaller(s.cniConfDir, s.conflistName) : null;
  let pods: PodWatch | null = null;
  let lease: LeaseElector | null = null;
  let sweeper: { start(): void; stop(): Promise<void> } | null = null;
  let hooks: DaemonHooks | null = null;
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  let untainted = false;
  let publishing: Promise<void> = Promise.resolve();
  let retry: NodeJS.Timeout | undefined;

  const placement = async (): Promise<EniConfigSpec> => {
    const fresh = nodeIdentity(await core.readNode({ name: s.nodeName }));
    const name = eniConfigName(fresh, s);
    let obj: unknown;
    try {
      obj = await custom.getClusterCustomObject({
        group: ENICONFIG_GROUP,
        version: ENICONFIG_VERSION,
        plural: ENICONFIG_PLURAL,
        name,
      });
    } catch (err) {
      const e = new EniConfigError(`custom networking: cannot read ENIConfig ${name}: ${apiMessage(err)}`);
      events.record('Warning', 'ENIConfigNotFound', e.message);
      throw e;
    }
    try {
      return parseEniConfig(name, obj);
    } catch (err) {
      events.record('Warning', 'ENIConfigInvalid', (err as Error).message);
      throw err;
    }
  };

  const onCloudError = (call: string, err: Error) => {
    if (err.name === 'SubnetFullError')
      events.record(
        'Warning',
        'SubnetFull',
        `${call}: ${err.message} (new addresses wait until the subnet has room)`,
      );
    else if (err.name === 'UnauthorizedError')
      events.record('Warning', 'MissingIAMPermissions', `${call}: ${err.message}`);
  };

  const publish = (r: Readiness) => {
    publishing = publishing.then(async () => {
      if (stopping && r.reason !== 'DaemonStopping') return;
      try {
        // The conflist first: it is this node's own truth and must not wait for the API server.
        if (r.ready && conflist && conflist.install(renderConflist(settings)))
          log.info({ path: conflist.path }, 'conflist installed: the pool can serve');
      } catch (err) {
        log.error({ err: String(err), dir: s.cniConfDir }, 'cannot install the conflist');
      }
      try {
        await status.setCondition(r);
        if (r.ready && !untainted) {
          const removed = await status.removeStartupTaint();
          untainted = true;
          if (removed) log.info({ node: s.nodeName }, 'startup taint removed: the pool can serve');
        }
      } catch (err) {
        log.warn(
          { err: apiMessage(err), reason: r.reason },
          'cannot publish node readiness; retrying in 5 s',
        );
        clearTimeout(retry);
        if (!stopping) retry = setTimeout(() => hooks && publish(hooks.readiness.changed()), 5_000);
      }
    });
  };

  return {
    node,
    get pods(): PodDirectory {
      if (!pods) throw new Error('the pod watch starts with KubeIntegration.start()');
      return pods;
    },
    applyNodeIdentity(base: Settings): Settings {
      if (!node || base.cloud.provider !== 'sim') return base;
      return {
        ...base,
        cloud: {
          ...base.cloud,
          simInstanceId: base.cloud.simInstanceId || node.instanceId || '',
          simInstanceType: node.instanceType ?? base.cloud.simInstanceType,
          simZone: base.cloud.simZone || node.zone || '',
        },
      };
    },
    wrapProvider(provider: Provider): Provider {
      return withKubeHooks(provider, {
        placement: s.customNetwork ? placement : undefined,
        onError: onCloudError,
      });
    },
    start(h: DaemonHooks): void {
      hooks = h;
      h.readiness.onChange(publish);
      publish(h.readiness.current);
      // Time alone changes readiness too (a growth pause ends, an error ages): look every 2 s.
      timer = setInterval(() => h.readiness.changed(), 2_000);
      pods = new PodWatch({
        kc,
        api: core,
        nodeName: s.nodeName,
        allocations: h.allocations,
        release: h.release,
        graceMs: s.podGoneGraceMs,
        log,
      });
      pods.start();
      if (h.sweeper) {
        const make = h.sweeper;
        lease = new LeaseElector({
          api: coordination,
          namespace: s.namespace,
          name: SWEEPER_LEASE,
          identity: s.nodeName,
          durationMs: s.leaseDurationMs,
          log,
          onStartedLeading: () => {
            sweeper = make();
            sweeper.start();
          },
          onStoppedLeading: () => {
            void sweeper?.stop();
            sweeper = null;
          },
        });
        lease.start();
      }
      // The Node against the cloud's description: a wrong MY_NODE_NAME would mark another node ready.
      const check = setInterval(() => {
        const cloud = h.cloudNode();
        if (!cloud || stopping) return;
        clearInterval(check);
        const diff = node ? identityMismatches(node, cloud) : [];
        if (diff.length) {
          log.error({ node: s.nodeName, diff }, 'this Node does not describe this machine');
          events.record('Warning', 'NodeIdentityMismatch', diff.join('; '));
        }
      }, 1_000);
      check.unref();
    },
    allocateFailed(reason: string, message: string): void {
      if (reason === 'node-full' || reason === 'pool-wait-timeout')
        events.record('Warning', 'AddressExhausted', `a pod got no address (${reason}): ${message}`);
    },
    async stop(timeoutMs = 3_000): Promise<void> {
      clearInterval(timer);
      clearTimeout(retry);
      if (hooks) publish(hooks.readiness.changed());
      stopping = true;
      await withTimeout(publishing, timeoutMs, 'publishing the stopping condition').catch((err: unknown) =>
        log.warn({ err: String(err) }, 'the stopping condition may not be published'),
      );
      await Promise.all([pods?.stop(), lease?.stop(), sweeper?.stop()]);
      await events.flush();
    },
  };
}
