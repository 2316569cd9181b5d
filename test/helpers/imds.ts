// IMDS for integration tests: the truthful fake (localstack/imds-server.ts) for one seeded instance, and
// an AWS provider wired to it and to LocalStack.
import type { EC2Client } from '@aws-sdk/client-ec2';
import { loadSettings, type Env, type Settings } from '../../config/settings.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ImdsServer } from '../../localstack/imds-server.js';
import { metadataTree, type InstanceView } from '../../localstack/imds-view.js';
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

/** IMDSv2 for a fixed view (no EC2 behind it), for tests that fake EC2 itself at the wire. */
export async function staticImds(view: InstanceView): Promise<{ url: string; close(): Promise<void> }> {
  const tree = metadataTree(view);
  const tokens = new Set<string>();
  const server = createServer((req, res) => {
    if (req.url === '/latest/api/token' && req.method === 'PUT') {
      const t = `t${tokens.size}`;
      tokens.add(t);
      return res.end(t);
    }
    if (!tokens.has(String(req.headers['x-aws-ec2-metadata-token']))) return res.writeHead(401).end();
    const body = tree(new URL(req.url ?? '/', 'http://x').pathname);
    if (body === null) return res.writeHead(404).end();
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
