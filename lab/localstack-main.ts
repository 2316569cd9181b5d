// Processes the lab runs for its LocalStack mode (lab/localstack-cloud.ts), inside the lab's vpc namespace.
//   localstack-main.ts imds <host:port> <ec2-endpoint>   one IMDSv2 for every node: each request is answered for
//                                                  the instance whose primary address sent it
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
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

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'imds')
  imds(args[0], args[1]).catch((err: Error) => {
    process.stderr.write(`localstack-main imds: ${err.message}\n`);
    process.exit(1);
  });
else {
  process.stderr.write('usage: localstack-main.ts imds <host:port> <ec2-endpoint>\n');
  process.exit(2);
}
