// The provider factory: TIDEPOOL_PROVIDER picks the cloud. Each provider's module is loaded only when
// chosen, so a sim node never loads the AWS SDK at start-up (start time matters: restart_to_serving).
import type { Settings } from '../config/settings.js';
import type { Provider } from '../providers/types.js';
import type { Logger } from './log.js';

export class ProviderUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderUnavailableError';
  }
}

type AwsModule = typeof import('../providers/aws/index.js');

/**
 * The AWS provider module, by a path computed at run time: a literal import would make the bundler hoist
 * the AWS SDK's import into the daemon's executable, and every node would pay for loading it (about 1 s).
 * From dist/bin/tidepool-ipamd it is the separately bundled dist/lib/provider-aws.js (scripts/build.mjs);
 * from the sources (tsx), providers/aws/index.ts.
 */
function loadAwsModule(): Promise<AwsModule> {
  const here = import.meta.url;
  const url = /\.ts$/.test(new URL(here).pathname)
    ? new URL('../providers/aws/index.ts', here)
    : new URL('../lib/provider-aws.js', here);
  return import(url.href) as Promise<AwsModule>;
}

export async function createProvider(settings: Settings, logger: Logger): Promise<Provider> {
  const log = logger.child({ component: 'provider' });
  switch (settings.cloud.provider) {
    case 'sim': {
      const { SimProvider } = await import('../providers/sim/client.js');
      // The instance is launched with TIDEPOOL_SIM_INSTANCE_TYPE on first contact if it does not exist yet,
      // as a node boots; its id defaults to i-<hostname>, stable across daemon restarts.
      return new SimProvider({
        endpoint: settings.cloud.simEndpoint,
        instanceId: settings.cloud.simInstanceId || undefined,
        instanceType: settings.cloud.simInstanceType,
        clusterName: settings.cloud.clusterName || undefined,
      });
    }
    case 'aws': {
      const { createAwsProvider } = await loadAwsModule();
      // Cloud call metrics come from the daemon's budget, which wraps every provider call (with its retries);
      // the provider's own per-EC2-call observer is not wired, so nothing is counted twice.
      return createAwsProvider(settings, { log });
    }
    case 'azure':
      throw new ProviderUnavailableError(
        'TIDEPOOL_PROVIDER=azure: the Azure provider is not available in this build; use aws or sim',
      );
  }
}
