// IMDS for integration tests: the truthful fake (localstack/imds-server.ts) for one seeded instance, and
// an AWS provider wired to it and to LocalStack.
import type { EC2Client } from '@aws-sdk/client-ec2';
import { loadSettings, type Env, type Settings } from '../../config/settings.js';
import { ImdsServer } from '../../localstack/imds-server.js';
import { createAwsProvider, type AwsProvider, type AwsProviderOptions } from '../../providers/aws/index.js';

export async function startImds(ec2: EC2Client, instanceId: string, lagMs = 0): Promise<ImdsServer> {
  const imds = new ImdsServer({ ec2, instanceId, region: 'us-east-1', lagMs, refreshMs: 100 });
  await imds.start();
  return imds;
}

export function awsSettings(endpoint: string, imdsUrl: string, env: Env = {}): Settings {
  return loadSettings({
    TIDEPOOL_PROVIDER: 'aws',
    AWS_EC2_ENDPOINT: endpoint,
    TIDEPOOL_IMDS_ENDPOINT: imdsUrl,
    CLUSTER_NAME: 'tidepool-test',
    ...env,
  });
}

export function awsProvider(
  endpoint: string,
  imdsUrl: string,
  env: Env = {},
  opts: AwsProviderOptions = {},
): AwsProvider {
  return createAwsProvider(awsSettings(endpoint, imdsUrl, env), opts, { AWS_REGION: 'us-east-1' });
}
