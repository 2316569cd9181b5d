// Processes the lab runs for its LocalStack mode (lab/localstack-cloud.ts), inside the lab's vpc namespace.
//   localstack-main.ts imds <host:port> <ec2-endpoint>   one IMDSv2 for every node: each request is answered for
//                                                  the instance whose primary address sent it
//   localstack-main.ts fidelity <host:port> <ec2-endpoint> <socket>
//                                                  the EC2 fidelity layer (ec2-fidelity.ts) in front of
//                                                  LocalStack; its counts also on the Unix socket
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { Ec2Fidelity } from '../localstack/ec2-fidelity.js';
import { ImdsServer } from '../localstack/imds-server.js';
import { ec2For } from '../localstack/seed.js';

async function imds(listen: string, endpoint: string): Promise<void> {
  const m = /^(.+):(\d+)$/.exec(listen ?? '');
  if (!m || !endpoint) throw new Error('usage: localstack-main.ts imds <host:port> <ec2-endpoint>');
  const ec2 = ec2For(endpoint);
  const byAddress = new Map<string, string>();
  const server = new ImdsServer({
    ec2,
    region: 'us-east-1',
    host: m[1],
    port: Number(m[2]),
    instanceFor: async (address) => {
      const known = byAddress.get(address);
      if (known) return known;
      const out = await ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'private-ip-address', Values: [address] }] }),
      );
      const id = out.Reservations?.[0]?.Instances?.[0]?.InstanceId;
      if (!id) throw new Error(`no instance has the address ${address}`);
      byAddress.set(address, id);
      return id;
    },
  });
  const url = await server.start();
  process.stdout.write(`imds: serving on ${url} for the instance that asks\n`);
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.once(sig, () => void server.stop().then(() => process.exit(0)));
}

async function fidelity(listen: string, endpoint: string, socketPath: string): Promise<void> {
  const m = /^(.+):(\d+)$/.exec(listen ?? '');
  if (!m || !endpoint || !socketPath)
    throw new Error('usage: localstack-main.ts fidelity <host:port> <ec2-endpoint> <socket>');
  const scale = Number(process.env.TIDEPOOL_FIDELITY_LATENCY_SCALE ?? '1');
  if (!Number.isFinite(scale) || scale < 0)
    throw new Error(
      `TIDEPOOL_FIDELITY_LATENCY_SCALE must be a number >= 0, not ${process.env.TIDEPOOL_FIDELITY_LATENCY_SCALE}`,
    );
  const layer = new Ec2Fidelity({
    target: endpoint,
    host: m[1],
    port: Number(m[2]),
    socketPath,
    latencyScale: scale,
    seed: Number(process.env.TIDEPOOL_FIDELITY_SEED ?? '1') || 1,
  });
  const url = await layer.start();
  process.stdout.write(`fidelity: serving on ${url} and ${socketPath}, in front of ${endpoint}\n`);
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.once(sig, () => void layer.stop().then(() => process.exit(0)));
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'fidelity')
  fidelity(args[0], args[1], args[2]).catch((err: Error) => {
    process.stderr.write(`localstack-main fidelity: ${err.message}\n`);
    process.exit(1);
  });
else if (cmd === 'imds')
  imds(args[0], args[1]).catch((err: Error) => {
    process.stderr.write(`localstack-main imds: ${err.message}\n`);
    process.exit(1);
  });
else {
  process.stderr.write('usage: localstack-main.ts imds|fidelity <host:port> <ec2-endpoint> [<socket>]\n');
  process.exit(2);
}
