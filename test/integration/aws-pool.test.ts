// The daemon's real pool engine on the AWS provider against LocalStack: fill from the primary ENI, a
// second ENI when the first is full, the instance type's and MAX_ENI's limits (enforced by Tidepool: the
// emulator enforces none), shrink on the AWS timers, and EC2's view always equal to the daemon's.
import { DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import { NodeFullError } from '../../ipamd/core/types.js';
import { seed, useLocalStack, type LocalStackLease } from '../helpers/localstack.js';
import { awsNode, type AwsNode } from '../helpers/localstack-node.js';

const pod = (n: number) => ({
  namespace: 'default',
  name: `p${n}`,
  uid: `u${n}`,
  netns: `/var/run/netns/p${n}`,
});
const key = (n: number) => ({ network: 'tidepool', containerId: `c${n}`, ifname: 'eth0' });

let ls: LocalStackLease;
beforeAll(() => {
  ls = useLocalStack();
});
afterAll(() => ls?.release());

function expectViewsEqual(ec2: Map<string, string[]>, daemon: Map<string, string[]>) {
  expect([...daemon.keys()].sort()).toEqual([...ec2.keys()].sort());
  for (const [id, addrs] of ec2) expect({ id, addrs: daemon.get(id) }).toEqual({ id, addrs });
}

async function allocate(node: AwsNode, n: number) {
  const p = node.core.allocate(key(n), pod(n));
  p.catch(() => undefined);
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await node.drive(() => settled, 120_000, 100);
  return p;
}

const idle = (node: AwsNode) => node.core.reconciler.inFlight.size === 0;

describe('AWS provider under the real pool engine, on LocalStack (m5.large: 3 ENIs × 10 addresses)', () => {
  let node: AwsNode;
  afterEach(async () => node?.cleanup());

  test('fills from the primary ENI, attaches a second and third when full, stops at the type limit, shrinks on the AWS timers', async () => {
    const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'], clusterName: 'tidepool-test' });
    node = await awsNode(ls.ec2, ls.endpoint, seeded, { env: { IP_COOLDOWN_PERIOD: '30' } });
    const primary = seeded.instances[0].primaryInterfaceId;
    const startP = node.core.start();
    await node.drive(async () => node.core.ready);
    await startP;

    // WARM_ENI_TARGET=1: one ENI's worth (9 secondaries) free, all on the primary ENI.
    await node.drive(() => node.core.status().free >= 9 && idle(node));
    let ec2 = await node.ec2View();
    expect([...ec2.keys()]).toEqual([primary]);
    expect(ec2.get(primary)).toHaveLength(9);
    expectViewsEqual(ec2, node.daemonView());

    // One pod: 8 free < 9 → a second ENI, attached at device 1 and tagged for this node and cluster.
    await allocate(node, 1);
    await node.drive(() => node.core.status().interfaces === 2 && node.core.status().free >= 9 && idle(node));
    ec2 = await node.ec2View();
    expect(ec2.size).toBe(2);
    const described = await ls.ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: 'attachment.instance-id', Values: [node.instanceId] }],
      }),
    );
    const second = described.NetworkInterfaces!.find((n) => n.NetworkInterfaceId !== primary)!;
    expect(second.Attachment?.DeviceIndex).toBe(1);
    const tags = Object.fromEntries(second.TagSet!.map((t) => [t.Key, t.Value]));
    expect(tags['node.k8s.amazonaws.com/instance_id']).toBe(node.instanceId);
    expect(tags['cluster.k8s.amazonaws.com/name']).toBe('tidepool-test');
    expect(Date.parse(tags['node.k8s.amazonaws.com/createdAt'])).toBeGreaterThan(0);
    expectViewsEqual(ec2, node.daemonView());

    // Fill the node: 27 pods = 3 ENIs × 9. The emulator would attach a 4th ENI and assign an 11th
    // address without complaint; Tidepool must not ask.
    for (let n = 2; n <= 27; n++) await allocate(node, n);
    await node.drive(() => idle(node));
    ec2 = await node.ec2View();
    expect(ec2.size).toBe(3);
    for (const addrs of ec2.values()) expect(addrs.length).toBeLessThanOrEqual(9);
    expect([...ec2.values()].flat()).toHaveLength(27);
    expectViewsEqual(ec2, node.daemonView());
    await expect(allocate(node, 28)).rejects.toBeInstanceOf(NodeFullError);
    const allocated = node.core.snapshot().allocations.map((a) => a.address);
    expect(new Set(allocated).size).toBe(27);
    expect(node.provider.calls.get('AttachNetworkInterface')).toBe(2);

    // Shrink: release every pod. Pure WARM_ENI mode frees whole ENIs only, none younger than 60 s, none with
    // addresses cooling (30 s), at most one per 30 s decrease gap; the primary ENI keeps its 9 addresses.
    const releasedAt = node.clock.now();
    for (let n = 1; n <= 27; n++) await node.core.release(key(n), 'test');
    await node.drive(() => node.core.status().cooling === 0, 60_000);
    expect(node.clock.now() - releasedAt).toBeGreaterThanOrEqual(30_000);
    expect((await node.ec2View()).size).toBe(3); // nothing freed while addresses cooled
    await node.drive(() => node.core.status().interfaces === 1 && idle(node), 300_000);
    ec2 = await node.ec2View();
    expect([...ec2.keys()]).toEqual([primary]);
    expect(ec2.get(primary)).toHaveLength(9);
    expectViewsEqual(ec2, node.daemonView());
    // Detached ENIs were deleted, not left available.
    const leftovers = await ls.ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: 'tag:node.k8s.amazonaws.com/instance_id', Values: [node.instanceId] }],
      }),
    );
    expect(leftovers.NetworkInterfaces).toEqual([]);
  }, 240_000);

  test('MAX_ENI=2 caps the node at two ENIs (18 pods) although the type allows three', async () => {
    const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
    node = await awsNode(ls.ec2, ls.endpoint, seeded, { env: { MAX_ENI: '2' } });
    const startP = node.core.start();
    await node.drive(async () => node.core.ready);
    await startP;
    for (let n = 1; n <= 18; n++) await allocate(node, n);
    await node.drive(() => idle(node));
    const err = await allocate(node, 19).catch((e: Error) => e);
    expect(err).toBeInstanceOf(NodeFullError);
    const ec2 = await node.ec2View();
    expect(ec2.size).toBe(2);
    expect([...ec2.values()].flat()).toHaveLength(18);
    expectViewsEqual(ec2, node.daemonView());
    expect(node.core.status().capacity).toBe(18);
  }, 180_000);
});
