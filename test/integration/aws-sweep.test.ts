// The leaked-ENI sweeper (tag-scoped to the cluster and node, age-gated by the createdAt tag) and
// repairIntents() finding an ENI whose create answer was lost, by its client-token tag — on LocalStack.
import {
  CreateNetworkInterfaceCommand,
  DescribeNetworkInterfacesCommand,
  type NetworkInterface,
} from '@aws-sdk/client-ec2';
import type { ImdsServer } from '../../localstack/imds-server.js';
import type { AwsProvider } from '../../providers/aws/index.js';
import type { IntentJournal } from '../../providers/types.js';
import { awsProvider, startImds } from '../helpers/imds.js';
import { seed, useLocalStack, type LocalStackLease } from '../helpers/localstack.js';

let ls: LocalStackLease;
let imds: ImdsServer | undefined;
let provider: AwsProvider | undefined;
beforeAll(() => {
  ls = useLocalStack();
});
afterAll(async () => {
  await provider?.close();
  await imds?.stop();
  ls?.release();
});

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function eni(subnetId: string, tags: Record<string, string>): Promise<string> {
  const out = await ls.ec2.send(
    new CreateNetworkInterfaceCommand({
      SubnetId: subnetId,
      TagSpecifications: [
        {
          ResourceType: 'network-interface',
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        },
      ],
    }),
  );
  return out.NetworkInterface!.NetworkInterfaceId!;
}

async function describe(ids: string[]): Promise<Map<string, NetworkInterface>> {
  const out = await ls.ec2.send(
    new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'subnet-id', Values: [...new Set(ids)] }] }),
  );
  return new Map((out.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, n]));
}

test('sweeps only unattached ENIs of this node and cluster older than the minimum age; stamps an untagged age', async () => {
  const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large', 'm5.large'], clusterName: 'sweep' });
  const [me, other] = seeded.instances;
  imds = await startImds(ls.ec2, me.instanceId);
  provider = awsProvider(ls.endpoint, imds.url, { CLUSTER_NAME: 'sweep' });
  const s = seeded.cniSubnet.id;
  const now = Date.now();
  const base = { 'tidepool.io/owner': 'tidepool', 'cluster.k8s.amazonaws.com/name': 'sweep' };
  const old = await eni(s, {
    ...base,
    'node.k8s.amazonaws.com/instance_id': me.instanceId,
    'node.k8s.amazonaws.com/createdAt': iso(now - 10 * 60_000),
  });
  const young = await eni(s, {
    ...base,
    'node.k8s.amazonaws.com/instance_id': me.instanceId,
    'node.k8s.amazonaws.com/createdAt': iso(now - 60_000),
  });
  const ageless = await eni(s, { ...base, 'node.k8s.amazonaws.com/instance_id': me.instanceId });
  const othersNode = await eni(s, {
    ...base,
    'node.k8s.amazonaws.com/instance_id': other.instanceId,
    'node.k8s.amazonaws.com/createdAt': iso(now - 10 * 60_000),
  });
  const otherCluster = await eni(s, {
    'tidepool.io/owner': 'tidepool',
    'cluster.k8s.amazonaws.com/name': 'another',
    'node.k8s.amazonaws.com/instance_id': me.instanceId,
    'node.k8s.amazonaws.com/createdAt': iso(now - 10 * 60_000),
  });
  const notOurs = await eni(s, { 'node.k8s.amazonaws.com/instance_id': me.instanceId }); // e.g. the incumbent's

  expect(await provider.sweepLeakedInterfaces(5 * 60_000)).toEqual([old]);
  const left = await describe([s]);
  expect(left.has(old)).toBe(false);
  for (const id of [young, ageless, othersNode, otherCluster, notOurs]) expect(left.has(id)).toBe(true);
  const stamped = left.get(ageless)!.TagSet!.find((t) => t.Key === 'node.k8s.amazonaws.com/createdAt');
  expect(Math.abs(Date.parse(stamped!.Value!) - Date.now())).toBeLessThan(60_000);
  // The stamped one is swept once it is old enough by its stamp, and not before.
  expect(await provider.sweepLeakedInterfaces(5 * 60_000)).toEqual([]);
  expect((await provider.sweepLeakedInterfaces(0)).sort()).toEqual([ageless, young].sort());
});

test('repairIntents deletes an unattached ENI known only by the client token of a create whose answer was lost', async () => {
  const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'], clusterName: 'sweep' });
  const me = seeded.instances[0];
  const server = await startImds(ls.ec2, me.instanceId);
  const p = awsProvider(ls.endpoint, server.url, { CLUSTER_NAME: 'sweep' });
  try {
    const token = `lost-${Date.now()}`;
    const orphan = await eni(seeded.cniSubnet.id, {
      'tidepool.io/client-token': token,
      'node.k8s.amazonaws.com/instance_id': me.instanceId,
    });
    const ended: number[] = [];
    const journal: IntentJournal = { begin: () => 1, update: () => {}, end: (id) => ended.push(id) };
    p.setJournal(journal);
    await p.describeNode();
    await p.repairIntents([
      {
        id: 41,
        kind: 'aws.create-eni',
        details: { clientToken: token, instanceId: me.instanceId },
        createdAt: 0,
      },
      { id: 42, kind: 'pool-release', details: {}, createdAt: 0 }, // not the provider's: left alone
    ]);
    expect((await describe([seeded.cniSubnet.id])).has(orphan)).toBe(false);
    expect(ended).toEqual([41]);
  } finally {
    await p.close();
    await server.stop();
  }
});
