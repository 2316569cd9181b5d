// The daemon's life: open the store, pick the provider, start the core (serving from the store at once,
// reconciling with the cloud in the background), set up the host network when asked, serve gRPC,
// introspection and metrics; stop in the reverse order.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from '../config/settings.js';
import type { CloudInterface, Provider } from '../providers/types.js';
import { IpamCore } from './core/core.js';
import { listenHttp, type HttpEndpoint } from './serve/http-listen.js';
import { introspectionHandler } from './serve/introspection.js';
import { createOrphanAudit, registerOrphanMetric } from './core/orphans.js';
import { createRecovery, registerRecoveryMetrics, type StateRecovery } from './core/recovery.js';
import { LeakSweeper } from './cloud/sweeper.js';
import type { Logger } from './log.js';
import { DeferredObserver, Metrics, observers } from './serve/metrics.js';
import type { KubeIntegration } from './kube/index.js';
import { loadKubeModule } from './kube/load.js';
import { ReadinessTracker } from './kube/readiness.js';
import { noopObserver } from './core/types.js';
import { createProvider, providerBudget } from './cloud/providers.js';
import { ReadyBeater } from './serve/ready-beater.js';
import { IpamServer } from './serve/grpc.js';
import { prepareSocketPath } from './serve/socket.js';
import { StateStore } from './state/store.js';

export const STATE_FILE = 'ipamd.db';

export interface RunningDaemon {
  core: IpamCore;
  server: IpamServer;
  introspection: HttpEndpoint | null;
  metrics: HttpEndpoint | null;
  /** Lost-state recovery; the Kubernetes integration frees quarantined addresses through it. */
  recovery: StateRecovery;
  /** The node's network readiness (condition, conflist, taint, Status RPC). */
  readiness: ReadinessTracker;
  /** The Kubernetes integration (TIDEPOOL_KUBERNETES), with the pod directory recovery uses. */
  kube: KubeIntegration | null;
  /** Settles when the core is ready (first cloud listing done) or failed to start. */
  ready: Promise<void>;
  stop(graceMs?: number): Promise<void>;
}

/** Host network setup, done in the background: it needs the node's description, and the store serves first. */
async function hostNetworkHook(
  settings: Settings,
  provider: Provider,
  logger: Logger,
): Promise<(iface: CloudInterface) => Promise<void>> {
  const { HostNetwork } = await import('./hostnet/index.js');
  let host: Promise<InstanceType<typeof HostNetwork>> | undefined;
  const setup = () =>
    (host ??= (async () => {
      const node = await provider.describeNode();
      const h = new HostNetwork({ node, network: settings.network });
      const res = await h.setupNode();
      logger.info({ primaryLink: h.primaryLink, result: res }, 'host network set up');
      return h;
    })().catch((err: unknown) => {
      host = undefined; // the next interface retries the node setup
      throw err;
    }));
  void setup().catch((err: unknown) =>
    logger.error({ err }, 'host network setup failed; retried with the next interface'),
  );
  return async (iface) => {
    const h = await setup();
    if (iface.deviceNumber > 0) await h.setupInterface(iface);
  };
}

export async function startDaemon(given: Settings, logger: Logger): Promise<RunningDaemon> {
  const d = given.daemon;
  // Refuse at once if another daemon serves on the socket, before this one opens a store or calls the cloud.
  await prepareSocketPath(d.socket);
  mkdirSync(d.stateDir, { recursive: true, mode: 0o700 });
  const store = StateStore.open(join(d.stateDir, STATE_FILE));
  const observer = new DeferredObserver();
  let provider: Provider;
  let kube: KubeIntegration | null = null;
  let settings = given;
  try {
    if (given.kube.enabled) {
      kube = await (await loadKubeModule()).connectKube(given, logger.child({ component: 'kube' }));
      settings = kube.applyNodeIdentity(given);
      provider = kube.wrapProvider(await createProvider(settings, logger));
    } else provider = await createProvider(settings, logger);
  } catch (err) {
    store.close();
    throw err;
  }
  const prepareInterface = settings.network.manageHostNetwork
    ? await hostNetworkHook(settings, provider, logger)
    : undefined;
  const core = new IpamCore({
    settings,
    provider,
    store,
    observer: observers(observer, {
      ...noopObserver,
      poolChanged: () => readiness.poke(),
      allocateFailed: (reason) => kube?.allocateFailed(reason, core.status().message),
    }),
    log: logger.child({ component: 'core' }),
    prepareInterface,
    budget: providerBudget(settings),
  });
  // A missing or empty database on a node that has run pods: claims what they hold before the first listing.
  const recovery = await createRecovery({ settings, core, store, logger });
  const readiness = new ReadinessTracker(core);
  // The store is loaded synchronously here; the cloud listing continues in the background.
  const ready = core.start();
  recovery.claimLoaded();
  recovery.start();
  ready.catch(() => undefined);
  // Releases allocations whose host veth is gone (a DEL while the daemon was down); the store is loaded.
  const orphans = settings.network.releaseOrphans
    ? await createOrphanAudit({
        network: settings.network,
        core,
        log: logger.child({ component: 'orphans' }),
      })
    : null;

  // Interfaces that escaped the intent journal: deleted when unattached, tagged for us and old enough.
  // With Kubernetes, only the holder of the sweeper Lease sweeps (a fresh sweeper per term).
  const makeSweeper = settings.cloud.leakedEniCleanup
    ? () =>
        new LeakSweeper({
          provider,
          budget: core.budget,
          clock: core.clock,
          log: logger.child({ component: 'sweeper' }),
          periodMs: settings.cloud.sweepPeriodMs,
          minAgeMs: settings.cloud.sweepMinAgeMs,
          firstDelayMs: Math.floor(Math.random() * Math.min(5 * 60_000, settings.cloud.sweepPeriodMs)),
        })
    : null;
  const sweeper = makeSweeper && !kube ? makeSweeper() : null;

  const server = new IpamServer({
    ipam: core,
    logger: logger.child({ component: 'grpc' }),
    podMtu: settings.network.podMtu,
    vpcCidrs: () => core.reconciler.node?.vpcCidrs ?? [],
    onCall: (method, code, ms) => observer.grpcCall(method, code, ms),
    limits: settings.daemon.grpc,
    networkStatus: () => {
      const r = readiness.evaluate();
      return { ready: r.statusOk, message: r.message };
    },
  });
  let introspection: HttpEndpoint | null = null;
  let metricsEp: HttpEndpoint | null = null;
  try {
    await server.listen(d.socket);
    if (d.introspectionAddr)
      introspection = await listenHttp(
        d.introspectionAddr,
        introspectionHandler({ ipam: core, settings, recovery: () => recovery.report() }),
      );
    // Metrics after the gRPC socket: loading prom-client must not delay serving.
    const metrics = await Metrics.create();
    metrics.bind(core);
    if (orphans) await registerOrphanMetric(metrics.registry, orphans);
    await registerRecoveryMetrics(metrics.registry, recovery);
    observer.attach(metrics);
    if (d.metricsAddr) metricsEp = await listenHttp(d.metricsAddr, metrics.handler);
  } catch (err) {
    await orphans?.stop();
    await recovery.stop();
    await kube?.stop(0);
    await server.shutdown(0);
    await introspection?.close();
    await core.stop();
    await provider.close?.();
    throw err;
  }
  logger.info(
    {
      socket: d.socket,
      introspection: introspection?.url ?? null,
      metrics: metricsEp?.url ?? null,
      ...core.status(),
    },
    'serving',
  );
  orphans?.start(); // after serving: the first audit's `ip` process must not delay the socket
  sweeper?.start();
  readiness.setServing(true);
  // STATUS's restart grace (cni/commands/status.ts) reads this beat while the socket is gone.
  const beater = new ReadyBeater(d.socket, () => readiness.evaluate().statusOk, logger);
  beater.start();
  readiness.onChange(() => beater.beat());
  kube?.start({
    allocations: () => [...core.pool.allocations.values()].map((a) => core.pool.toAllocation(a)),
    release: (key, reason) => core.release(key, reason),
    cloudNode: () => core.reconciler.node,
    readiness,
    sweeper: makeSweeper,
  });
  // Lost state on Kubernetes: once the pod list is in, a quarantined address that no pod of this node holds
  // is free at once instead of after the grace.
  if (kube) {
    const k = kube;
    void k.pods
      .whenSynced()
      .then(async () => {
        const inUse = k.pods.podsInUse();
        const free = recovery
          .quarantined()
          .map((q) => q.address)
          .filter((a) => !inUse.has(a));
        if (free.length) await recovery.free(free, 'no pod of this node holds it (Kubernetes pod list)');
      })
      .catch((err) => logger.warn({ err }, 'freeing quarantined addresses by the pod list failed'));
  }

  let stopping: Promise<void> | undefined;
  return {
    core,
    server,
    introspection,
    metrics: metricsEp,
    recovery,
    readiness,
    kube,
    ready,
    stop: (graceMs = 15_000) =>
      (stopping ??= (async () => {
        // The last ready beat stays: a restart within the conflist's statusGraceSeconds keeps STATUS ready.
        beater.stop();
        // The node says first that it cannot serve (condition False), then the socket closes.
        readiness.setStopping();
        await kube?.stop();
        // Stop accepting, let calls in flight finish (a parked Allocate included), then close the rest.
        const { forced } = await server.shutdown(graceMs);
        if (forced) logger.warn({ graceMs }, 'calls still in flight after the grace period were cancelled');
        await Promise.all([
          introspection?.close(),
          metricsEp?.close(),
          orphans?.stop(),
          sweeper?.stop(),
          recovery.stop(),
        ]);
        await core.stop();
        await provider.close?.();
      })()),
  };
}
