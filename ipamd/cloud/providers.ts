// The provider factory: TIDEPOOL_PROVIDER picks the cloud. Each provider's module is loaded only when
// chosen, so a sim node never loads the AWS SDK at start-up (start time matters: restart_to_serving).
import type { Settings } from '../../config/settings.js';
import * as cloudErrors from '../../providers/errors.js';
import type {
  AttachRequest,
  CloudInterface,
  IntentJournal,
  NodeInfo,
  OpenIntent,
  Provider,
  SubnetInfo,
} from '../../providers/types.js';
import type { ApiClass, BucketSpec } from './budget.js';
import type { Logger } from '../log.js';

export class ProviderUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderUnavailableError';
  }
}

type AwsModule = typeof import('../../providers/aws/index.js');
type AzureModule = typeof import('../../providers/azure/index.js');

/**
 * The AWS provider module, by a path computed at run time: a literal import would make the bundler hoist
 * the AWS SDK's import into the daemon's executable, and every node would pay for loading it (about 1 s).
 * From dist/bin/tidepool-ipamd it is the separately bundled dist/lib/provider-aws.js (scripts/build.mjs);
 * from the sources (tsx), providers/aws/index.ts.
 */
function loadAwsModule(): Promise<AwsModule> {
  const here = import.meta.url;
  const url = /\.ts$/.test(new URL(here).pathname)
    ? new URL('../../providers/aws/index.ts', here)
    : new URL('../lib/provider-aws.js', here);
  return import(url.href) as Promise<AwsModule>;
}

/** The Azure provider module, bundled apart as dist/lib/provider-azure.js for the same reason. */
function loadAzureModule(): Promise<AzureModule> {
  const here = import.meta.url;
  const url = /\.ts$/.test(new URL(here).pathname)
    ? new URL('../../providers/azure/index.ts', here)
    : new URL('../lib/provider-azure.js', here);
  return import(url.href) as Promise<AzureModule>;
}

/**
 * Budget buckets per provider. Azure: Microsoft.Network allows 1,000 writes and 10,000 reads per 5 minutes
 * per subscription (cloud-api-figures.md 4); one node never goes past the subscription's whole rate.
 */
export function providerBudget(settings: Settings): { buckets?: Partial<Record<ApiClass, BucketSpec>> } {
  if (settings.cloud.provider !== 'azure') return {};
  return {
    buckets: {
      addresses: { capacity: 20, refillPerSec: 1000 / 300 },
      describe: { capacity: 50, refillPerSec: 10000 / 300 },
    },
  };
}

export async function createProvider(settings: Settings, logger: Logger): Promise<Provider> {
  const log = logger.child({ component: 'provider' });
  switch (settings.cloud.provider) {
    case 'sim': {
      const { SimProvider } = await import('../../providers/sim/client.js');
      // The instance is launched with TIDEPOOL_SIM_INSTANCE_TYPE on first contact if it does not exist yet,
      // as a node boots; its id defaults to i-<hostname>, stable across daemon restarts.
      return new SimProvider({
        endpoint: settings.cloud.simEndpoint,
        instanceId: settings.cloud.simInstanceId || undefined,
        instanceType: settings.cloud.simInstanceType,
        zone: settings.cloud.simZone || undefined,
        clusterName: settings.cloud.clusterName || undefined,
      });
    }
    case 'aws': {
      // The AWS SDK takes about a second to load: the daemon serves from its store meanwhile, and the cloud
      // calls wait for the module. Cloud call metrics come from the daemon's budget, which wraps every
      // provider call (with its retries); the provider's own per-EC2-call observer is not wired, so nothing
      // is counted twice.
      return new DeferredProvider('aws', async () => {
        const { createAwsProvider } = await loadAwsModule();
        return withDaemonErrors(createAwsProvider(settings, { log }));
      });
    }
    case 'azure':
      // Like AWS: the SDK loads in the background while the daemon serves from its store.
      return new DeferredProvider('azure', async () => {
        const { createAzureProvider } = await loadAzureModule();
        return withDaemonErrors(createAzureProvider(settings, { log }));
      });
  }
}

type ErrorClass = new (message: string, code: string, action: string) => cloudErrors.CloudError;
const ERROR_CLASSES: Record<string, ErrorClass> = {};
for (const [name, value] of Object.entries(cloudErrors))
  if (typeof value === 'function' && value.prototype instanceof Error)
    ERROR_CLASSES[name] = value as ErrorClass;

/**
 * The separately bundled AWS module carries its own copy of providers/errors.ts, so its ThrottledError is
 * not the daemon's and `instanceof` (what the budget retries, what the reconciler backs off from) would not
 * match. Every error it throws is turned back into the daemon's class of the same name.
 */
export function withDaemonErrors<P extends object>(provider: P): P {
  const adopt = (err: unknown): unknown => {
    if (!(err instanceof Error) || err instanceof cloudErrors.CloudError) return err;
    const cls = ERROR_CLASSES[err.name];
    if (!cls) return err;
    const e = err as Error & { code?: string; action?: string };
    const mine = new cls(e.message, e.code ?? '', e.action ?? '');
    mine.stack = e.stack;
    return mine;
  };
  return new Proxy(provider, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        try {
          const out = (v as (...a: unknown[]) => unknown).apply(target, args);
          return out instanceof Promise ? out.catch((err: unknown) => Promise.reject(adopt(err))) : out;
        } catch (err) {
          throw adopt(err);
        }
      };
    },
  });
}

/**
 * A provider whose module is still loading: every call waits for it. Optional methods are answered as
 * absent ones would be when the loaded provider lacks them.
 */
export class DeferredProvider implements Provider {
  private readonly loaded: Promise<Provider>;
  private current: Provider | undefined;

  constructor(
    readonly name: string,
    load: () => Promise<Provider>,
  ) {
    this.loaded = load();
    // A failure is reported by the first call that needs it.
    this.loaded.then((p) => (this.current = p)).catch(() => undefined);
  }

  /** The loaded provider's (read by the reconciler at each round, after describeNode waited for it). */
  get flatWriteCost(): boolean | undefined {
    return this.current?.flatWriteCost;
  }

  private async use<T>(f: (p: Provider) => Promise<T>): Promise<T> {
    return f(await this.loaded);
  }
  describeNode(): Promise<NodeInfo> {
    return this.use((p) => p.describeNode());
  }
  listInterfaces(): Promise<CloudInterface[]> {
    return this.use((p) => p.listInterfaces());
  }
  assignAddresses(interfaceId: string, count: number): Promise<string[]> {
    return this.use((p) => p.assignAddresses(interfaceId, count));
  }
  assignPrefixes(interfaceId: string, count: number): Promise<string[]> {
    return this.use((p) => p.assignPrefixes(interfaceId, count));
  }
  releaseAddresses(interfaceId: string, addresses: string[]): Promise<void> {
    return this.use((p) => p.releaseAddresses(interfaceId, addresses));
  }
  releasePrefixes(interfaceId: string, prefixes: string[]): Promise<void> {
    return this.use((p) => p.releasePrefixes(interfaceId, prefixes));
  }
  attachInterface(req: AttachRequest): Promise<CloudInterface> {
    return this.use((p) => p.attachInterface(req));
  }
  detachAndDeleteInterface(interfaceId: string): Promise<void> {
    return this.use((p) => p.detachAndDeleteInterface(interfaceId));
  }
  listSubnets(): Promise<SubnetInfo[]> {
    return this.use(async (p) => (p.listSubnets ? p.listSubnets() : []));
  }
  repairIntents(intents: OpenIntent[]): Promise<number[]> {
    return this.use(async (p) => (p.repairIntents ? p.repairIntents(intents) : []));
  }
  sweepLeakedInterfaces(minAgeMs: number): Promise<string[]> {
    return this.use(async (p) => (p.sweepLeakedInterfaces ? p.sweepLeakedInterfaces(minAgeMs) : []));
  }
  setJournal(journal: IntentJournal): void {
    // Registered before any later call's wait, so the journal is in place before the first mutating call.
    void this.loaded.then(
      (p) => p.setJournal?.(journal),
      () => undefined,
    );
  }
  async close(): Promise<void> {
    const p = await this.loaded.catch(() => null);
    await p?.close?.();
  }
}
