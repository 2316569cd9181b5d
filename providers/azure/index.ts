/**
 * The Azure provider (issue 13). For the daemon's provider factory (TIDEPOOL_PROVIDER=azure):
 *
 *   import { createAzureProvider } from '../providers/azure/index.js';
 *   const provider = createAzureProvider(settings, { log });   // implements Provider
 *
 * Settings used: cloud.imdsEndpoint (TIDEPOOL_IMDS_ENDPOINT), cloud.azure (AZURE_SUBSCRIPTION_ID,
 * AZURE_RESOURCE_GROUP, AZURE_CLIENT_ID, AZURE_ARM_ENDPOINT), pool.prefixDelegation.
 * Environment read by @azure/identity itself: AZURE_POD_IDENTITY_AUTHORITY_HOST (the managed identity
 * token endpoint's host, http://169.254.169.254 by default). Read here (a test hook):
 * TIDEPOOL_AZURE_TEST_CRASH_AT=after-put (SIGKILL the process after a NIC PUT, before its read-back).
 */
import type { Settings } from '../../config/settings.js';
import { AzureProvider, type AzureProviderOptions } from './provider.js';

export { AzureProvider, type AzureProviderOptions } from './provider.js';
export { AzureImdsError } from './imds.js';
export { UnknownVmSizeError } from './limits.js';

export function createAzureProvider(
  settings: Settings,
  opts: AzureProviderOptions = {},
  env: Record<string, string | undefined> = process.env,
): AzureProvider {
  const crash = env.TIDEPOOL_AZURE_TEST_CRASH_AT;
  if (crash && crash !== 'after-put')
    throw new Error(`TIDEPOOL_AZURE_TEST_CRASH_AT=${crash}: must be after-put`);
  return new AzureProvider(settings, {
    ...(crash ? { afterPut: () => process.kill(process.pid, 'SIGKILL') } : {}),
    ...opts,
  });
}
