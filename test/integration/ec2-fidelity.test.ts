// The EC2 fidelity layer (localstack/ec2-fidelity.ts) against LocalStack. Each correction is shown twice:
// the same call sent straight to LocalStack shows the quirk (so the assertion made through the layer would
// fail without it), and sent through the layer it behaves as EC2 does.
import {
  AssignPrivateIpAddressesCommand,
  CreateNetworkInterfaceCommand,
  CreateTagsCommand,
  DescribeNetworkInterfacesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { cidrAddresses } from '../../config/net.js';
import { Ec2Fidelity, usableAddresses } from '../../localstack/ec2-fidelity.js';
import { seed, useLocalStack, type LocalStackLease } from '../helpers/localstack.js';

let ls: LocalStackLease;
const layers: Ec2Fidelity[] = [];
const clients: EC2Client[] = [];
beforeAll(() => {
  ls = useLocalStack();
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const l of layers) await l.stop();
  ls?.release();
});

/** A layer in front of the test's LocalStack, and an EC2 client (no SDK retries) that goes through it. */
async function through(opts: { latency?: boolean; throttle?: boolean } = {}) {
  const layer = new Ec2Fidelity({
    target: ls.endpoint,
    latency: opts.latency ?? false,
    throttle: opts.throttle ?? false,
  });
  layers.push(layer);
  const url = await layer.start();
  return { layer, ec2: noRetry(url) };
}

/** An EC2 client that makes one attempt per call, so a throttled call is seen as such. */
function noRetry(endpoint: string): EC2Client {
  const ec2 = new EC2Client({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  clients.push(ec2);
  return ec2;
}

async function addressesOf(
  ec2: EC2Client,
  eniId: string,
): Promise<{ primary: string; secondaries: string[] }> {
  const out = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] }));
  const all = out.NetworkInterfaces?.[0]?.PrivateIpAddresses ?? [];
  return {
    primary: all.find((p) => p.Primary)!.PrivateIpAddress!,
    secondaries: all.filter((p) => !p.Primary).map((p) => p.PrivateIpAddress!),
  };
}

test('AssignPrivateIpAddresses answers with only the addresses that call assigned', async () => {
  const s = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
  const eni = s.instances[0].primaryInterfaceId;
  // Without the layer: the answer lists the ENI's primary address and the earlier secondaries too.
  await ls.ec2.send(
    new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: 2 }),
  );
  const raw = await ls.ec2.send(
    new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: 2 }),
  );
  const rawList = raw.AssignedPrivateIpAddresses!.map((a) => a.PrivateIpAddress!);
  expect(rawList.length).toBeGreaterThan(2);

  const { ec2 } = await through();
  const before = await addressesOf(ls.ec2, eni);
  const out = await ec2.send(
    new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: 3 }),
  );
  const got = out.AssignedPrivateIpAddresses!.map((a) => a.PrivateIpAddress!);
  expect(got).toHaveLength(3);
  expect(got).not.toContain(before.primary);
  for (const a of got) expect(before.secondaries).not.toContain(a);
  // ...and they are what EC2 now holds on the ENI beyond what it held before.
  const after = await addressesOf(ls.ec2, eni);
  expect(after.secondaries.sort()).toEqual([...before.secondaries, ...got].sort());
});

test('no address is handed out twice across interfaces, nor a reserved one; a full subnet fails as EC2 does', async () => {
  const s = await seed(ls.ec2, { instanceTypes: [] });
  const small = s.smallSubnet; // a /28: 16 addresses, 5 reserved by AWS, 11 usable
  const { ec2 } = await through();
  const ours = (await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: small.id }))).NetworkInterface!;
  const ourPrimary = ours.PrivateIpAddress!;
  expect(usableAddresses(small.cidr)).toContain(ourPrimary);
  // Another ENI takes every usable address but ours and three.
  const usable = usableAddresses(small.cidr).filter((a) => a !== ourPrimary);
  const leftFree = usable.slice(-3);
  const held = usable.slice(0, -3);
  const other = await ls.ec2.send(
    new CreateNetworkInterfaceCommand({
      SubnetId: small.id,
      PrivateIpAddresses: held.map((a, i) => ({ PrivateIpAddress: a, Primary: i === 0 })),
    }),
  );
  expect(other.NetworkInterface!.PrivateIpAddresses).toHaveLength(held.length);

  // Through the layer: the three free addresses and nothing else.
  const got = await ec2.send(
    new AssignPrivateIpAddressesCommand({
      NetworkInterfaceId: ours.NetworkInterfaceId!,
      SecondaryPrivateIpAddressCount: 3,
    }),
  );
  expect(got.AssignedPrivateIpAddresses!.map((a) => a.PrivateIpAddress!).sort()).toEqual(
    [...leftFree].sort(),
  );
  // The subnet is full now: EC2 refuses, and nothing is assigned.
  await expect(
    ec2.send(
      new AssignPrivateIpAddressesCommand({
        NetworkInterfaceId: ours.NetworkInterfaceId!,
        SecondaryPrivateIpAddressCount: 1,
      }),
    ),
  ).rejects.toMatchObject({ name: 'InsufficientFreeAddressesInSubnet' });
  expect((await addressesOf(ls.ec2, ours.NetworkInterfaceId!)).secondaries.sort()).toEqual(
    [...leftFree].sort(),
  );
  // A new ENI in the full subnet is refused too.
  await expect(ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: small.id }))).rejects.toMatchObject({
    name: 'InsufficientFreeAddressesInSubnet',
  });

  // Without the layer, the same full subnet still "assigns": an address another ENI holds, or a reserved one.
  const raw = await ls.ec2.send(
    new AssignPrivateIpAddressesCommand({
      NetworkInterfaceId: ours.NetworkInterfaceId!,
      SecondaryPrivateIpAddressCount: 1,
    }),
  );
  expect(raw.$metadata.httpStatusCode).toBe(200);
  const now = (await addressesOf(ls.ec2, ours.NetworkInterfaceId!)).secondaries;
  const extra = now.filter((a) => !leftFree.includes(a));
  expect(extra).toHaveLength(1);
  const all = cidrAddresses(small.cidr);
  const reserved = [...all.slice(0, 4), all[all.length - 1]];
  expect([...held, ...reserved]).toContain(extra[0]);
});

test('CreateNetworkInterface with a secondary count gets unique, unreserved addresses', async () => {
  const s = await seed(ls.ec2, { instanceTypes: [] });
  const small = s.smallSubnet;
  const { ec2 } = await through();
  const a = (
    await ec2.send(
      new CreateNetworkInterfaceCommand({ SubnetId: small.id, SecondaryPrivateIpAddressCount: 4 }),
    )
  ).NetworkInterface!;
  const b = (
    await ec2.send(
      new CreateNetworkInterfaceCommand({ SubnetId: small.id, SecondaryPrivateIpAddressCount: 5 }),
    )
  ).NetworkInterface!;
  const listed = [a, b].flatMap((n) => n.PrivateIpAddresses!.map((p) => p.PrivateIpAddress!));
  expect(listed).toHaveLength(11);
  expect(new Set(listed).size).toBe(11);
  expect(listed.sort()).toEqual(usableAddresses(small.cidr).sort());
  expect(a.PrivateIpAddresses!.filter((p) => p.Primary).map((p) => p.PrivateIpAddress)).toEqual([
    a.PrivateIpAddress,
  ]);
});

test("throttling: EC2's CreateTags bucket (100, 10/s) answers RequestLimitExceeded (503) beyond it; LocalStack never does", async () => {
  const s = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
  const eni = s.instances[0].primaryInterfaceId;
  const burst = (ec2: EC2Client) =>
    Promise.allSettled(
      Array.from({ length: 200 }, (_, i) =>
        ec2.send(new CreateTagsCommand({ Resources: [eni], Tags: [{ Key: `k${i % 5}`, Value: String(i) }] })),
      ),
    );
  const raw = await burst(noRetry(ls.endpoint));
  expect(raw.filter((r) => r.status === 'rejected')).toHaveLength(0);

  const { ec2, layer } = await through({ throttle: true });
  const out = await burst(ec2);
  const refused = out.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  // 200 calls in far less than 10 s: at most 100 + 10/s of them fit the bucket.
  expect(refused.length).toBeGreaterThan(0);
  for (const r of refused) {
    expect(r.reason.name).toBe('RequestLimitExceeded');
    expect(r.reason.$metadata.httpStatusCode).toBe(503);
  }
  expect(layer.counts.get('CreateTags')).toMatchObject({ calls: 200, throttled: refused.length });
});

test('latency: a call waits at least the documented minimum of its action before LocalStack answers', async () => {
  const s = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
  const eni = s.instances[0].primaryInterfaceId;
  const { ec2, layer } = await through({ latency: true });
  const t0 = Date.now();
  await ec2.send(
    new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eni, SecondaryPrivateIpAddressCount: 1 }),
  );
  const took = Date.now() - t0;
  // AssignPrivateIpAddresses: median 500 ms, clamped to >= 250 ms (cloud-api-figures.md section 7).
  const added = layer.counts.get('AssignPrivateIpAddresses')!.addedMs;
  expect(added).toBeGreaterThanOrEqual(250);
  expect(took).toBeGreaterThanOrEqual(added);
});
