// The emulator's known gaps (reference cni-spec-and-test-tools.md 5.2), shown to be real on this LocalStack
// and shown to be handled: AssignPrivateIpAddresses answers with all of the ENI's addresses, a new
// secondary address is unique only within its ENI (it may be another ENI's address, or a reserved one), and
// one call may list the same new address twice on the ENI.
import {
  AssignPrivateIpAddressesCommand,
  CreateNetworkInterfaceCommand,
  DescribeNetworkInterfacesCommand,
  UnassignPrivateIpAddressesCommand,
} from '@aws-sdk/client-ec2';
import { cidrAddresses } from '../../config/net.js';
import type { ImdsServer } from '../../localstack/imds-server.js';
import type { AwsProvider } from '../../providers/aws/index.js';
import { awsProvider, startImds } from '../helpers/imds.js';
import { seed, useLocalStack, type LocalStackLease } from '../helpers/localstack.js';

let ls: LocalStackLease;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(() => {
  ls = useLocalStack();
});
afterAll(async () => {
  for (const c of cleanups) await c();
  ls?.release();
});

async function nodeOn(instanceId: string): Promise<{ provider: AwsProvider; imds: ImdsServer }> {
  const imds = await startImds(ls.ec2, instanceId);
  const provider = awsProvider(ls.endpoint, imds.url);
  cleanups.push(async () => {
    await provider.close();
    await imds.stop();
  });
  return { provider, imds };
}

async function secondariesOf(eniId: string): Promise<string[]> {
  const out = await ls.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] }));
  return (out.NetworkInterfaces?.[0]?.PrivateIpAddresses ?? [])
    .filter((p) => !p.Primary)
    .map((p) => p.PrivateIpAddress!)
    .sort();
}

test('the emulator answers AssignPrivateIpAddresses with every address of the ENI; the provider returns only the new ones', async () => {
  const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
  const eni = seeded.instances[0].primaryInterfaceId;
  // The gap itself, on the raw API: 2 then 2 more; AWS would answer the second call with 2 addresses.
  await ls.ec2.send(
    new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: 2 }),
  );
  const raw = await ls.ec2.send(
    new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: 2 }),
  );
  expect(raw.AssignedPrivateIpAddresses!.length).toBeGreaterThan(2);

  const { provider } = await nodeOn(seeded.instances[0].instanceId);
  const before = await secondariesOf(eni);
  const first = await provider.assignAddresses(eni, 2);
  const second = await provider.assignAddresses(eni, 3);
  // Only new addresses come back: at most the count asked for. Fewer when moto drew a reserved or
  // duplicate address, which the provider gives back instead of returning (the next test's gap).
  expect(first.length).toBeGreaterThan(0);
  expect(first.length).toBeLessThanOrEqual(2);
  expect(second.length).toBeGreaterThan(0);
  expect(second.length).toBeLessThanOrEqual(3);
  for (const a of [...first, ...second]) expect(before).not.toContain(a);
  expect(first.filter((a) => second.includes(a))).toEqual([]);
  expect(await secondariesOf(eni)).toEqual([...before, ...first, ...second].sort());
});

test('an address the emulator hands out that another ENI (or the subnet) already uses is given back, never returned', async () => {
  const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
  const { provider } = await nodeOn(seeded.instances[0].instanceId);
  const small = seeded.smallSubnet; // a /28: 16 addresses, 5 reserved by AWS, 11 usable
  const ours = await provider.attachInterface({
    subnetId: small.id,
    securityGroups: [],
    deviceIndex: 1,
    clientToken: `gap-${Date.now()}`,
  });
  // Another ENI of the subnet holds every usable address but our ENI's own: anything the emulator assigns
  // to our ENI now is a duplicate or a reserved address (moto only avoids the ENI's own addresses).
  const all = cidrAddresses(small.cidr);
  const usable = all.slice(4, -1).filter((a) => a !== ours.primaryAddress);
  const other = await ls.ec2.send(
    new CreateNetworkInterfaceCommand({
      SubnetId: small.id,
      PrivateIpAddresses: usable.map((a, i) => ({ PrivateIpAddress: a, Primary: i === 0 })),
    }),
  );
  const otherId = other.NetworkInterface!.NetworkInterfaceId!;
  expect(await secondariesOf(otherId)).toHaveLength(usable.length - 1);

  const got = await provider.assignAddresses(ours.id, 5);
  expect(got).toEqual([]);
  // ...and EC2 holds none of them on our ENI any more: quarantined addresses were unassigned.
  expect(await secondariesOf(ours.id)).toEqual([]);

  // With room in the subnet again, what the provider returns is always unique and unreserved.
  const freed = usable.slice(1, 6);
  await ls.ec2.send(
    new UnassignPrivateIpAddressesCommand({ NetworkInterfaceId: otherId, PrivateIpAddresses: freed }),
  );
  const taken = new Set([...(await secondariesOf(otherId)), usable[0], ours.primaryAddress]);
  const reserved = new Set([...all.slice(0, 4), all[all.length - 1]]);
  const returned: string[] = [];
  // The emulator draws addresses at random, most of them taken: enough rounds that some draw hits one of the
  // freed addresses (with 6, a clean run once saw every draw given back).
  for (let round = 0; round < 20 && returned.length < freed.length; round++) {
    const fresh = await provider.assignAddresses(ours.id, 2);
    for (const a of fresh) {
      expect(taken.has(a)).toBe(false);
      expect(reserved.has(a)).toBe(false);
      taken.add(a);
      returned.push(a);
    }
  }
  expect(returned.length).toBeGreaterThan(0);
  for (const a of returned) expect(freed).toContain(a);
  // EC2's view of our ENI is exactly what the provider returned: every rejected address was given back.
  expect(await secondariesOf(ours.id)).toEqual([...returned].sort());
});

test('an address the emulator lists twice on one ENI (two slots, one address) is given back, never returned', async () => {
  const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
  const small = seeded.smallSubnet; // 16 addresses: 9 random draws repeat one about 94% of the time
  const twice = (addrs: string[]) => addrs.filter((a, i) => addrs.indexOf(a) !== i);
  // The gap itself, on the raw API: moto checks each draw only against the ENI's addresses before the call.
  let seen = false;
  for (let attempt = 0; attempt < 10 && !seen; attempt++) {
    const eni = await ls.ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: small.id }));
    const id = eni.NetworkInterface!.NetworkInterfaceId!;
    await ls.ec2.send(
      new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: id, SecondaryPrivateIpAddressCount: 9 }),
    );
    const listed = await secondariesOf(id);
    expect(listed).toHaveLength(9);
    seen = twice(listed).length > 0;
    await ls.ec2.send(
      new UnassignPrivateIpAddressesCommand({ NetworkInterfaceId: id, PrivateIpAddresses: listed }),
    );
  }
  expect(seen).toBe(true);

  // Through the provider: whatever it returns is listed exactly once, and nothing else stays on the ENI.
  const { provider } = await nodeOn(seeded.instances[0].instanceId);
  const ours = await provider.attachInterface({
    subnetId: small.id,
    securityGroups: [],
    deviceIndex: 1,
    clientToken: `twice-${Date.now()}`,
  });
  for (let round = 0; round < 5; round++) {
    const got = await provider.assignAddresses(ours.id, 9);
    expect(got.length).toBeLessThanOrEqual(9);
    const listed = await secondariesOf(ours.id);
    expect(twice(listed)).toEqual([]);
    expect(listed).toEqual([...got].sort());
    if (listed.length)
      await ls.ec2.send(
        new UnassignPrivateIpAddressesCommand({ NetworkInterfaceId: ours.id, PrivateIpAddresses: listed }),
      );
  }
});
