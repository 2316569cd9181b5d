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
import { DeferredObserver, Metrics } from './serve/metrics.js';
import { createProvider, providerBudget } from './cloud/providers.js';
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

export async function startDaemon(settings: Settings, logger: Logger): Promise<RunningDaemon> {
  const d = settings.daemon;
  // Refuse at once if another daemon serves on the socket, before this one opens a store or calls the cloud.
  await prepareSocketPath(d.socket);
  mkdirSync(d.stateDir, { recursive: true, mode: 0o700 });
  const store = StateStore.open(join(d.stateDir, STATE_FILE));
  const observer = new DeferredObserver();
  let provider: Provider;
  try {
    provider = await createProvider(settings, logger);
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
    observer,
    log: logger.child({ component: 'core' }),
    prepareInterface,
    budget: providerBudget(settings),
  });
  // A missing or empty database on a node that has run pods: claims what they hold before the first listing.
  const recovery = await createRecovery({ settings, core, store, logger });
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
  const sweeper = settings.cloud.leakedEniCleanup
    ? new LeakSweeper({
        provider,
        budget: core.budget,
        clock: core.clock,
        log: logger.child({ component: 'sweeper' }),
      })
    : null;

  const server = new IpamServer({
    ipam: core,
    logger: logger.child({ component: 'grpc' }),
    podMtu: settings.network.podMtu,
    vpcCidrs: () => core.reconciler.node?.vpcCidrs ?? [],
    onCall: (method, code, ms) => observer.grpcCall(method, code, ms),
    limits: settings.daemon.grpc,
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

  let stopping: Promise<void> | undefined;
  return {
    core,
    server,
    introspection,
    metrics: metricsEp,
    recovery,
    ready,
    stop: (graceMs = 15_000) =>
      (stopping ??= (async () => {
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
