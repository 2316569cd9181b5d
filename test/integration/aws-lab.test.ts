// The lab's LocalStack mode end to end (`tidepoolctl lab up --provider localstack`): two nodes whose daemons
// run the AWS provider against the lab's own LocalStack (in the lab's vpc namespace) and discover themselves
// through the lab's IMDS; pods get addresses EC2 assigned, the fabric routes them between nodes, and the
// internet sees the node's address (SNAT). Everything lives in namespaces the lab creates; `lab down` removes it.
import { join } from 'node:path';
import { DescribeNetworkInterfacesCommand } from '@aws-sdk/client-ec2';
import { labEc2 } from '../../lab/localstack-cloud.js';
import { Lab, namespacesWithPrefix, testPrefix } from '../helpers/lab.js';

const lab = new Lab(testPrefix());
afterAll(async () => {
  await lab.down();
});

test('lab on LocalStack: pods get EC2-assigned addresses, reach each other across nodes and the internet via SNAT', async () => {
  await lab.must(['up', '--provider', 'localstack', '--nodes', '2', '--instance-type', 't3.medium'], 300_000);
  const ec2 = labEc2(join(lab.stateDir, 'ec2.sock'));
  try {
    const pods: Record<string, string> = {};
    for (const [node, pod] of [
      ['node-1', 'a'],
      ['node-2', 'b'],
    ]) {
      const out = await lab.must(['pod', 'add', node, pod], 120_000);
      pods[pod] = /(\d+\.\d+\.\d+\.\d+)/.exec(out)![1];
    }
    // Each pod address is a secondary address EC2 holds on an ENI of that pod's node.
    const described = await ec2.send(new DescribeNetworkInterfacesCommand({}));
    const owner = new Map<string, string>();
    for (const ni of described.NetworkInterfaces ?? [])
      for (const p of ni.PrivateIpAddresses ?? [])
        if (!p.Primary) owner.set(p.PrivateIpAddress!, ni.Attachment?.InstanceId ?? '');
    const status = await lab.status();
    const instanceOf = (name: string) =>
      (status.nodes as { name: string; instanceId: string }[]).find((n) => n.name === name)!.instanceId;
    expect(owner.get(pods.a)).toBe(instanceOf('node-1'));
    expect(owner.get(pods.b)).toBe(instanceOf('node-2'));

    const ping = await lab.exec('a', ['ping', '-c', '2', '-W', '2', pods.b]);
    expect(ping.stdout).toMatch(/2 received/);
    const who = await lab.exec('a', ['socat', '-T3', '-', 'TCP:203.0.113.10:8080']);
    const node1 = (status.nodes as { name: string; primaryAddress: string }[]).find(
      (n) => n.name === 'node-1',
    )!;
    expect(who.stdout.trim()).toBe(node1.primaryAddress);
  } finally {
    ec2.destroy();
  }
  const down = await lab.down();
  expect(down.code).toBe(0);
  expect(namespacesWithPrefix(lab.prefix)).toEqual([]);
}, 420_000);
