/**
 * The AWS provider (issue 4). For the daemon's provider factory (TIDEPOOL_PROVIDER=aws):
 *
 *   import { createAwsProvider } from '../providers/aws/index.js';
 *   const provider = createAwsProvider(settings, { log, observer });   // implements Provider
 *   provider.setJournal(store.journal);            // before any mutating call
 *   await provider.repairIntents(store.openIntents()); // at startup, BEFORE the first listInterfaces()
 *
 * Settings used: cloud.imdsEndpoint (TIDEPOOL_IMDS_ENDPOINT), cloud.ec2Endpoint (AWS_EC2_ENDPOINT /
 * AWS_ENDPOINT_URL_EC2), cloud.clusterName, cloud.additionalEniTags, cloud.subnetDiscovery, pool.maxEni.
 * Environment read here (not in Settings, being AWS SDK conventions or test hooks): AWS_REGION /
 * AWS_DEFAULT_REGION (default: the instance's region from IMDS) and TIDEPOOL_AWS_TEST_CRASH_AT
 * (after-create | after-attach | after-detach: SIGKILL the process there; tests only).
 * The EC2 client makes one attempt per call (maxAttempts 1): the daemon's budget retries ThrottledError /
 * TransientError / InUseError (providers/errors.ts) with its own jittered backoff.
 */
import type { Settings } from '../../config/settings.js';
import type { CrashPoint } from './context.js';
import { AwsProvider, type AwsProviderOptions } from './provider.js';

export { AwsProvider, type AwsProviderOptions } from './provider.js';
export { ImdsClient, ImdsError } from './imds.js';
export type { ProviderLog, CallObserver } from './ec2.js';

const CRASH_POINTS: CrashPoint[] = ['after-create', 'after-attach', 'after-detach'];

export function createAwsProvider(
  settings: Settings,
  opts: AwsProviderOptions = {},
  env: Record<string, string | undefined> = process.env,
): AwsProvider {
  const crash = env.TIDEPOOL_AWS_TEST_CRASH_AT;
  if (crash && !CRASH_POINTS.includes(crash as CrashPoint))
    throw new Error(`TIDEPOOL_AWS_TEST_CRASH_AT=${crash}: must be one of ${CRASH_POINTS.join(', ')}`);
  return new AwsProvider(settings, {
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    crashAt: (crash as CrashPoint) || null,
    ...opts,
  });
}
