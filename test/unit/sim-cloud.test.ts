import { VirtualClock } from '../../providers/clock.js';
import {
  CloudError,
  InUseError,
  LimitExceededError,
  SubnetFullError,
  ThrottledError,
  TransientError,
} from '../../providers/errors.js';
import { SimCloud } from '../../providers/sim/cloud.js';
import { createSimNode, InProcessSimProvider, launchSimNode } from '../../providers/sim/inprocess.js';
import type { SimEvent } from '../../providers/sim/model.js';
import { cidrContains, ipToInt, parseCidr } from '../../config/net.js';

const attachReq = (subnetId: string, deviceIndex: number, extra: object = {}) => ({
  subnetId,
  securityGroups: [],
  deviceIndex,
  clientToken: `tok-${deviceIndex}-${Math.random()}`,
  ...extra,
});

describe('SimCloud throttling (EC2 token buckets, cloud-api-figures 1.3)', () => {
  test('AssignPrivateIpAddresses: 100 calls pass, the 101st is RequestLimitExceeded, 5/s refill', async () => {
    const clock = new VirtualClock();
    const { cloud, provider } = createSimNode({ clock, instanceType: 'm5.24xlarge' });
    const node = await provider.describeNode();
    for (let i = 0; i < 100; i++)
      await cloud.ec2
        .assignPrivateIpAddresses({ interfaceId: node.primaryInterfaceId, count: 1 })
        .then((r) =>
          cloud.ec2
            .unassignPrivateIpAddresses({ interfaceId: node.primaryInterfaceId, addresses: r.addresses })
            .catch(() => undefined),
        );
    const over = provider.assignAddresses(node.primaryInterfaceId, 1);
    await expect(over).rejects.toThrow(ThrottledError);
    await expect(over).rejects.toMatchObject({
      code: 'RequestLimitExceeded',
      action: 'AssignPrivateIpAddresses',
    });
    // 1 s refills 5 tokens: 5 calls pass, the 6th is throttled again.
    await clock.advance(1000);
    for (let i = 0; i < 5; i++) await provider.assignAddresses(node.primaryInterfaceId, 1);
    await expect(provider.assignAddresses(node.primaryInterfaceId, 1)).rejects.toThrow(ThrottledError);
    // 20 s refill the whole bucket (capacity 100 at 5/s).
    await clock.advance(20_000);
    expect(cloud.bucketLevel('AssignPrivateIpAddresses')).toBeCloseTo(100);
    expect(cloud.callStats().AssignPrivateIpAddresses).toMatchObject({ calls: 107, ok: 105, throttled: 2 });
  });

  test('Attach uses the mutating bucket (50, 5/s); other actions are not affected', async () => {
    const clock = new VirtualClock();
    const cloud = new SimCloud({ clock });
    const p = launchSimNode(cloud, { instanceType: 'm5.large' });
    for (let i = 0; i < 50; i++) {
      await expect(
        cloud.ec2.attachNetworkInterface({
          interfaceId: 'eni-missing',
          instanceId: p.instanceId,
          deviceIndex: 1,
        }),
      ).rejects.toMatchObject({ code: 'InvalidNetworkInterfaceID.NotFound' });
    }
    await expect(
      cloud.ec2.attachNetworkInterface({
        interfaceId: 'eni-missing',
        instanceId: p.instanceId,
        deviceIndex: 1,
      }),
    ).rejects.toThrow(ThrottledError);
    await expect(p.listInterfaces()).resolves.toHaveLength(1);
    await clock.advance(200); // 200 ms at 5/s = 1 token
    await expect(
      cloud.ec2.attachNetworkInterface({
        interfaceId: 'eni-missing',
        instanceId: p.instanceId,
        deviceIndex: 1,
      }),
    ).rejects.toMatchObject({ code: 'InvalidNetworkInterfaceID.NotFound' });
  });

  test('unfiltered DescribeNetworkInterfaces uses the small bucket (50, 10/s)', async () => {
    const cloud = new SimCloud({ clock: new VirtualClock() });
    for (let i = 0; i < 50; i++) await cloud.ec2.describeNetworkInterfaces({});
    await expect(cloud.ec2.describeNetworkInterfaces({})).rejects.toThrow(ThrottledError);
    await expect(cloud.ec2.describeNetworkInterfaces({ status: 'available' })).resolves.toEqual([]);
  });

  test('throttle: false turns buckets off', async () => {
    const cloud = new SimCloud({ clock: new VirtualClock(), throttle: false });
    for (let i = 0; i < 300; i++) await cloud.ec2.describeNetworkInterfaces({});
    expect(cloud.callStats().DescribeNetworkInterfaces.ok).toBe(300);
  });
});

describe('SimCloud limits (instance-type table)', () => {
  test('attaching beyond maxInterfaces fails with AttachmentLimitExceeded; a duplicate device index fails', async () => {
    const { provider } = createSimNode({ clock: new VirtualClock(), instanceType: 'm5.large' }); // 3 ENIs
    const node = await provider.describeNode();
    await provider.attachInterface(attachReq(node.subnetId, 1));
    await expect(provider.attachInterface(attachReq(node.subnetId, 1))).rejects.toThrow(
      /already has an interface attached at device index '1'/,
    );
    await provider.attachInterface(attachReq(node.subnetId, 2));
    const err = await provider.attachInterface(attachReq(node.subnetId, 3)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(err).toMatchObject({ code: 'AttachmentLimitExceeded' });
    // The failed attach left no interface behind.
    const all = await provider.listInterfaces();
    expect(all.map((i) => i.deviceNumber)).toEqual([0, 1, 2]);
  });

  test('assigning beyond ipv4PerInterface fails with PrivateIpAddressLimitExceeded (primary counts)', async () => {
    const { provider } = createSimNode({ clock: new VirtualClock(), instanceType: 'm5.large' }); // 10 per ENI
    const node = await provider.describeNode();
    expect(await provider.assignAddresses(node.primaryInterfaceId, 9)).toHaveLength(9);
    const err = await provider.assignAddresses(node.primaryInterfaceId, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(err).toMatchObject({ code: 'PrivateIpAddressLimitExceeded' });
    const [eth0] = await provider.listInterfaces();
    expect(eth0.addresses).toHaveLength(9);
  });

  test('an attach with inline addresses carries them; prefixes and addresses share the slots', async () => {
    const { provider } = createSimNode({ clock: new VirtualClock(), instanceType: 't3.medium' }); // 6 per ENI
    const node = await provider.describeNode();
    const eni = await provider.attachInterface(attachReq(node.subnetId, 1, { addresses: 3 }));
    expect(eni.addresses).toHaveLength(3);
    expect(await provider.assignPrefixes(eni.id, 2)).toHaveLength(2);
    await expect(provider.assignPrefixes(eni.id, 1)).rejects.toMatchObject({
      code: 'PrivateIpAddressLimitExceeded',
    });
  });

  test('prefix delegation is refused on a Xen instance', async () => {
    const { provider } = createSimNode({ clock: new VirtualClock(), instanceType: 't2.large' });
    const node = await provider.describeNode();
    await expect(provider.assignPrefixes(node.primaryInterfaceId, 1)).rejects.toThrow(/Nitro/);
  });
});

describe('SimCloud subnets', () => {
  test('a small subnet runs out: InsufficientFreeAddressesInSubnet', async () => {
    const cloud = new SimCloud({
      clock: new VirtualClock(),
      subnets: [{ cidr: '10.0.0.0/28', zone: 'us-east-1a' }],
    });
    const p = launchSimNode(cloud, { instanceType: 'm5.4xlarge' }); // 30 per ENI, more than the subnet
    const node = await p.describeNode();
    // /28 = 16 addresses − 5 reserved = 11; the primary took one.
    expect(await p.assignAddresses(node.primaryInterfaceId, 10)).toHaveLength(10);
    const err = await p.assignAddresses(node.primaryInterfaceId, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubnetFullError);
    expect(err).toMatchObject({ code: 'InsufficientFreeAddressesInSubnet' });
    const [s] = await p.listSubnets();
    expect(s.freeAddresses).toBe(0);
  });

  test('addresses are unique subnet-wide and never the reserved ones', async () => {
    const cloud = new SimCloud({
      clock: new VirtualClock(),
      throttle: false,
      subnets: [{ cidr: '10.0.0.0/24', zone: 'us-east-1a' }],
    });
    const nodes = ['m5.4xlarge', 'm5.4xlarge', 'm5.2xlarge'].map((t) =>
      launchSimNode(cloud, { instanceType: t }),
    );
    const seen = new Set<string>();
    const add = (ip: string) => {
      expect(seen.has(ip)).toBe(false);
      seen.add(ip);
    };
    let full = false;
    while (!full) {
      for (const p of nodes) {
        const ifs = await p.listInterfaces();
        try {
          const room = ifs.find((i) => i.addresses.length + 1 < 15);
          if (room) await p.assignAddresses(room.id, 1);
          else await p.attachInterface(attachReq(ifs[0].subnetId, ifs.length));
        } catch (e) {
          if (e instanceof SubnetFullError) full = true;
          else if (!(e instanceof LimitExceededError)) throw e;
        }
      }
    }
    for (const p of nodes)
      for (const i of await p.listInterfaces()) [i.primaryAddress, ...i.addresses].forEach(add);
    expect(seen.size).toBe(256 - 5);
    for (const ip of seen) {
      const off = ipToInt(ip) - parseCidr('10.0.0.0/24').base;
      expect(off >= 4 && off <= 254).toBe(true);
    }
  });

  test('prefixes are aligned /28 blocks clear of reserved addresses; InsufficientCidrBlocks when none is free', async () => {
    const cloud = new SimCloud({
      clock: new VirtualClock(),
      subnets: [{ cidr: '10.0.1.0/26', zone: 'us-east-1a' }],
    });
    const p = launchSimNode(cloud, { instanceType: 'm5.large' });
    const node = await p.describeNode();
    // A /26 has 4 blocks: .0/28 holds the reserved .0–.3, .48/28 the broadcast; the primary may take one more.
    const got: string[] = [];
    let err: unknown;
    while (!err)
      await p.assignPrefixes(node.primaryInterfaceId, 1).then(
        (x) => got.push(...x),
        (e: unknown) => (err = e),
      );
    expect(err).toBeInstanceOf(SubnetFullError);
    expect(err).toMatchObject({ code: 'InsufficientCidrBlocks' });
    expect(got.length).toBeGreaterThanOrEqual(1);
    for (const prefix of got) {
      expect(prefix).toMatch(/^10\.0\.1\.(16|32)\/28$/);
      expect(cidrContains(prefix, node.primaryAddress)).toBe(false);
    }
    // Single addresses remain available where no whole block is.
    expect(await p.assignAddresses(node.primaryInterfaceId, 2)).toHaveLength(2);
  });

  test('a /27 never yields a prefix although it has free addresses', async () => {
    const cloud = new SimCloud({
      clock: new VirtualClock(),
      subnets: [{ cidr: '10.0.2.0/27', zone: 'us-east-1a' }],
    });
    const p = launchSimNode(cloud, { instanceType: 'm5.large' });
    const node = await p.describeNode();
    await expect(p.assignPrefixes(node.primaryInterfaceId, 1)).rejects.toMatchObject({
      code: 'InsufficientCidrBlocks',
    });
    expect((await p.listSubnets())[0].freeAddresses).toBe(32 - 5 - 1);
  });
});

describe('SimCloud interface life cycle', () => {
  test('delete right after detach is "in use" until the detach window passes', async () => {
    const clock = new VirtualClock();
    const { cloud, provider } = createSimNode({ clock, detachMs: 3000 });
    const node = await provider.describeNode();
    const eni = await provider.attachInterface(attachReq(node.subnetId, 1));
    await cloud.ec2.detachNetworkInterface({ interfaceId: eni.id });
    await expect(cloud.ec2.deleteNetworkInterface({ interfaceId: eni.id })).rejects.toThrow(InUseError);
    expect((await provider.listInterfaces()).find((i) => i.id === eni.id)?.status).toBe('detaching');
    await clock.advance(3000);
    await cloud.ec2.deleteNetworkInterface({ interfaceId: eni.id });
    expect(await provider.listInterfaces()).toHaveLength(1);
  });

  test('detachAndDeleteInterface retries the delete through the "in use" window', async () => {
    const clock = new VirtualClock();
    const { cloud, provider } = createSimNode({ clock, detachMs: 3000 });
    const node = await provider.describeNode();
    const eni = await provider.attachInterface(attachReq(node.subnetId, 1, { addresses: 4 }));
    const done = provider.detachAndDeleteInterface(eni.id);
    while (clock.pending > 0 || cloud.topology.interfaces.has(eni.id)) await clock.step();
    await done;
    expect(cloud.callStats().DeleteNetworkInterface.errors['InvalidNetworkInterface.InUse']).toBeGreaterThan(
      0,
    );
    expect((await provider.listSubnets())[0].freeAddresses).toBe(4096 - 5 - 1);
  });

  test('visibility lag hides new addresses from Describe for the lag, and shows released ones', async () => {
    const clock = new VirtualClock();
    const { provider } = createSimNode({ clock, visibilityLagMs: 1000 });
    const node = await provider.describeNode();
    const got = await provider.assignAddresses(node.primaryInterfaceId, 3);
    expect((await provider.listInterfaces())[0].addresses).toEqual([]);
    await clock.advance(1000);
    expect((await provider.listInterfaces())[0].addresses.sort()).toEqual([...got].sort());
    await provider.releaseAddresses(node.primaryInterfaceId, got);
    expect((await provider.listInterfaces())[0].addresses).toHaveLength(3);
    await clock.advance(1000);
    expect((await provider.listInterfaces())[0].addresses).toEqual([]);
  });

  test('realistic latency sleeps on the injected clock, lognormal around the sourced median', async () => {
    const clock = new VirtualClock();
    const { cloud, provider } = createSimNode({ clock, latency: 'realistic', throttle: false, seed: 7 });
    const node = cloud.topology.instances.get(provider.instanceId)!;
    const calls = Array.from({ length: 200 }, () =>
      cloud.ec2.describeNetworkInterfaces({ interfaceIds: [node.primaryInterfaceId] }),
    );
    let settled = false;
    void Promise.all(calls).then(() => (settled = true));
    await clock.advance(70);
    expect(settled).toBe(false); // nothing answers before the 75 ms floor
    await clock.advance(2000);
    await Promise.all(calls);
    const ms = cloud
      .callLog()
      .map((c) => c.ms)
      .sort((a, b) => a - b);
    expect(ms[100]).toBeGreaterThan(130); // p50 150 ms (cilium PR #44539)
    expect(ms[100]).toBeLessThan(170);
    expect(ms[197]).toBeLessThan(230); // p99 200 ms
  });
});

describe('SimCloud faults and events', () => {
  test('next-N faults fail exactly N calls with no effect', async () => {
    const { cloud, provider } = createSimNode({
      clock: new VirtualClock(),
      faults: { AssignPrivateIpAddresses: { next: 2 } },
    });
    const node = await provider.describeNode();
    await expect(provider.assignAddresses(node.primaryInterfaceId, 1)).rejects.toThrow(TransientError);
    await expect(provider.assignAddresses(node.primaryInterfaceId, 1)).rejects.toThrow(TransientError);
    expect((await provider.listInterfaces())[0].addresses).toEqual([]);
    await expect(provider.assignAddresses(node.primaryInterfaceId, 1)).resolves.toHaveLength(1);
    expect(cloud.callStats().AssignPrivateIpAddresses.errors.ServiceUnavailable).toBe(2);
  });

  test("a fault 'after' applies the effect and loses the reply; probability 1 fails every call", async () => {
    const { cloud, provider } = createSimNode({ clock: new VirtualClock() });
    const node = await provider.describeNode();
    cloud.setFaults({ AssignPrivateIpAddresses: { next: 1, when: 'after', error: 'internal' } });
    await expect(provider.assignAddresses(node.primaryInterfaceId, 2)).rejects.toMatchObject({
      code: 'InternalError',
    });
    expect((await provider.listInterfaces())[0].addresses).toHaveLength(2);
    cloud.setFaults({ DescribeSubnets: { probability: 1, error: 'unauthorized' } });
    await expect(provider.listSubnets()).rejects.toMatchObject({ code: 'UnauthorizedOperation' });
    expect(() => cloud.setFaults({ DescribeSubnets: { probability: 2 } })).toThrow(/probability/);
  });

  test('events: attach, assign, release and detach are streamed in order', async () => {
    const { cloud, provider } = createSimNode({ clock: new VirtualClock() });
    const events: SimEvent[] = [];
    cloud.on((e) => events.push(e));
    const node = await provider.describeNode();
    const eni = await provider.attachInterface(attachReq(node.subnetId, 1, { addresses: 2 }));
    const more = await provider.assignAddresses(eni.id, 1);
    await provider.releaseAddresses(eni.id, more);
    await provider.detachAndDeleteInterface(eni.id);
    expect(events.map((e) => e.type)).toEqual([
      'interface-attached',
      'addresses-assigned',
      'addresses-assigned',
      'addresses-released',
      'addresses-released',
      'interface-detached',
    ]);
    expect(events[0]).toMatchObject({
      instanceId: node.instanceId,
      interfaceId: eni.id,
      mac: eni.mac,
      deviceNumber: 1,
      subnetCidr: node.subnetCidr,
      primaryAddress: eni.primaryAddress,
    });
    expect(events[1]).toMatchObject({ addresses: eni.addresses, prefixes: [] });
    expect(events[3]).toMatchObject({ addresses: more });
    expect(events.map((e) => e.seq)).toEqual([...events.keys()].map((k) => events[0].seq + k));
  });

  test('bad requests name the parameter', async () => {
    const cloud = new SimCloud({ clock: new VirtualClock() });
    const err = await cloud.ec2
      .assignPrivateIpAddresses({ interfaceId: 'eni-1', count: -1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudError);
    expect((err as CloudError).message).toMatch(/count must be an integer/);
    expect(() => cloud.launchInstance({ instanceType: 'm9.nothing' })).toThrow(
      /unknown instance type "m9.nothing"/,
    );
  });
});

describe('SimCloud state', () => {
  test('a snapshot restores the same cloud: interfaces, free addresses, bucket levels, id sequence', async () => {
    const clock = new VirtualClock();
    const { cloud, provider } = createSimNode({ clock, instanceType: 'm5.xlarge' });
    const node = await provider.describeNode();
    const eni = await provider.attachInterface(attachReq(node.subnetId, 1, { addresses: 3 }));
    await provider.assignPrefixes(eni.id, 1);
    const snap = JSON.parse(JSON.stringify(cloud.toJSON()));
    const copy = new SimCloud({ clock, state: snap });
    const p2 = launchSimNode(copy, { instanceType: 'm5.large' });
    const p1 = new InProcessSimProvider({ cloud: copy, instanceId: node.instanceId });
    expect(await p1.listInterfaces()).toEqual(await provider.listInterfaces());
    expect(copy.bucketLevel('CreateNetworkInterface')).toBeCloseTo(
      cloud.bucketLevel('CreateNetworkInterface')!,
    );
    expect((await p1.listSubnets())[0].freeAddresses).toBe(
      (await provider.listSubnets())[0].freeAddresses - 1,
    );
    const held = new Set((await p1.listInterfaces()).flatMap((i) => [i.primaryAddress, ...i.addresses]));
    expect(held.has((await p2.describeNode()).primaryAddress)).toBe(false);
  });

  test('CreateNetworkInterface with the same client token returns the same interface', async () => {
    const { cloud, provider } = createSimNode({ clock: new VirtualClock() });
    const node = await provider.describeNode();
    const a = await cloud.ec2.createNetworkInterface({ subnetId: node.subnetId, clientToken: 'same' });
    const b = await cloud.ec2.createNetworkInterface({ subnetId: node.subnetId, clientToken: 'same' });
    expect(b.id).toBe(a.id);
    expect(cloud.topology.interfaces.size).toBe(2);
  });

  test('a restore refuses a state where two interfaces hold one address', () => {
    const cloud = new SimCloud({ clock: new VirtualClock() });
    const a = launchSimNode(cloud, { instanceType: 'm5.large' });
    launchSimNode(cloud, { instanceType: 'm5.large' });
    const snap = cloud.toJSON();
    snap.interfaces[1].primaryAddress = snap.interfaces[0].primaryAddress;
    expect(() => new SimCloud({ state: snap })).toThrow(/held twice/);
    expect(a.instanceId).toMatch(/^i-[0-9a-f]{17}$/);
  });
});
