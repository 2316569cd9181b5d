// The Ipam facade: gc, status, snapshot, prefix mode and the adaptive policy, in virtual time on the sim.
import { afterEach, describe, expect, test } from '@jest/globals';
import { key, makeNode, pod, settle, simCalls, type TestNode } from './core.harness.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.cleanup();
  node = undefined;
});

describe('Ipam facade', () => {
  test('allocation carries the interface, route table and gateway of its address', async () => {
    node = makeNode({ env: { WARM_IP_TARGET: '1' } });
    const { clock, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    const onPrimary = (await core.allocate(key('a'), pod('a'))).allocation;
    expect(onPrimary).toMatchObject({ deviceNumber: 0, routeTable: 254 });
    expect(onPrimary.subnetGateway).toMatch(/\.1$/);
    // Fill the primary (9) so that the next address comes from a secondary interface.
    const rest = await settle(
      clock,
      Promise.all(Array.from({ length: 9 }, (_, i) => core.allocate(key(`b${i}`), pod(`b${i}`)))),
    );
    const secondary = rest.map((r) => r.allocation).find((a) => a.deviceNumber > 0)!;
    expect(secondary.routeTable).toBe(secondary.deviceNumber + 1);
  });

  test('gc releases the allocations of a network not in the valid list, and only those', async () => {
    node = makeNode();
    const { clock, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    await core.allocate(key('keep'), pod('keep'));
    const gone = (await core.allocate(key('gone'), pod('gone'))).allocation.address;
    await core.allocate({ network: 'other', containerId: 'x', ifname: 'eth0' }, pod('x'));
    expect(await core.gc('tidepool', [{ containerId: 'keep', ifname: 'eth0' }])).toEqual([gone]);
    expect(core.check(key('keep'))).not.toBeNull();
    expect(core.check(key('gone'))).toBeNull();
    expect(core.check({ network: 'other', containerId: 'x', ifname: 'eth0' })).not.toBeNull();
    expect(core.status()).toMatchObject({ assigned: 2, cooling: 1 });
  });

  test('status and snapshot show states, cooldowns, allocations and recent cloud calls', async () => {
    node = makeNode();
    const { clock, core } = node;
    expect(core.status()).toMatchObject({ ready: false });
    await settle(clock, core.start());
    await clock.advance(6_000);
    await core.allocate(key('a'), pod('a'));
    await core.allocate(key('b'), pod('b'));
    await core.release(key('b'), 'test');
    expect(core.status()).toMatchObject({
      ready: true,
      total: 9,
      assigned: 1,
      cooling: 1,
      free: 7,
      capacity: 27,
    });
    const snap = core.snapshot();
    const states = snap.interfaces[0].addresses.map((a) => a.state).sort();
    expect(states.filter((s) => s === 'cooling')).toHaveLength(1);
    expect(snap.allocations.map((a) => a.key.containerId)).toEqual(['a']);
    expect(snap.cloud.recentCalls.map((c) => c.action)).toEqual(
      expect.arrayContaining(['DescribeNode', 'DescribeNetworkInterfaces', 'AssignPrivateIpAddresses']),
    );
    expect(snap.settings).toMatchObject({ WARM_ENI_TARGET: 1, IP_COOLDOWN_PERIOD: 30 });
  });
});

describe('release while parked', () => {
  test('a DEL of a request still waiting for the pool abandons it: nothing stays allocated', async () => {
    node = makeNode({ sim: { latency: 'realistic', seed: 9 } });
    const { clock, core } = node;
    const starting = core.start();
    const waiting = core.allocate(key('c1'), pod('p1'));
    waiting.catch(() => undefined);
    expect(core.status().parked).toBe(1);
    expect(await core.release(key('c1'), 'cni-del')).toBeNull();
    await expect(waiting).rejects.toThrow(/released \(cni-del\) while waiting/);
    await settle(clock, starting);
    await clock.advance(6_000);
    expect(core.check(key('c1'))).toBeNull();
    expect(core.status()).toMatchObject({ assigned: 0, parked: 0 });
  });
});

describe('prefix delegation on the sim', () => {
  test('MINIMUM_IP_TARGET=20 takes two /28 prefixes (32 addresses), served to pods', async () => {
    node = makeNode({
      env: { ENABLE_PREFIX_DELEGATION: 'true', MINIMUM_IP_TARGET: '20', WARM_PREFIX_TARGET: '0' },
    });
    const { clock, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    expect(core.status()).toMatchObject({ total: 32, free: 32 });
    expect(core.snapshot().interfaces[0].prefixes).toHaveLength(2);
    const a = await core.allocate(key('a'), pod('a'));
    expect(
      core.snapshot().interfaces[0].addresses.find((x) => x.address === a.allocation.address)?.prefix,
    ).toBeDefined();
  });
});

describe('prefix delegation in a fragmented subnet', () => {
  test('with no free aligned /28 left, the pool falls back to /32 addresses instead of failing', async () => {
    node = makeNode({
      env: { ENABLE_PREFIX_DELEGATION: 'true', WARM_PREFIX_TARGET: '1' },
      sim: {
        seed: 1,
        subnets: [{ id: 'subnet-node', cidr: '10.0.0.0/26', zone: 'us-east-1a' }],
        zones: ['us-east-1a'],
      },
    });
    const { clock, cloud, core } = node;
    // Other instances take scattered single addresses: no aligned /28 block stays free (seed 1).
    for (let i = 0; i < 8; i++) cloud.launchInstance({ instanceType: 't3.micro', subnetId: 'subnet-node' });
    await settle(clock, core.start());
    // The boot round only (pre-scaling); the next tick would top up again.
    await clock.advance(1_000);
    expect(simCalls(cloud, 'AssignPrivateIpAddresses').map((c) => c.outcome)).toEqual([
      'InsufficientCidrBlocks',
      'ok',
    ]);
    const r = await core.allocate(key('a'), pod('a'));
    expect(r.allocation.address).toMatch(/^10\.0\.0\./);
    expect(core.snapshot().interfaces[0].prefixes).toEqual([]);
    // One /28 asked for: 16 addresses wanted, 9 slots on the m5.large primary → 9 /32s in one call.
    expect(core.status().total).toBe(9);
  });
});

describe('adaptive policy', () => {
  test('grows at once for a burst across interfaces, and shrinks only after the decrease gap', async () => {
    node = makeNode({ env: { TIDEPOOL_POOL_POLICY: 'adaptive' }, sim: { latency: 'realistic', seed: 5 } });
    const { clock, cloud, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    expect(core.status().free).toBeGreaterThanOrEqual(1);
    const results = await settle(
      clock,
      Promise.all(Array.from({ length: 26 }, (_, i) => core.allocate(key(`c${i}`), pod(`p${i}`)))),
    );
    expect(results).toHaveLength(26);
    // The prior buffer (10 free, grown 30% over) was there before the burst; the rest came in one
    // round: no more than the two secondary interfaces the 26 pods need.
    const attaches = simCalls(cloud, 'AttachNetworkInterface');
    expect(attaches.length).toBeGreaterThanOrEqual(1);
    expect(attaches.length).toBeLessThanOrEqual(2);
    const max = Math.max(...results.map((r) => r.waitedMs));
    expect(max).toBeLessThan(5_000);

    for (let i = 0; i < 26; i++) await core.release(key(`c${i}`), 'test');
    const released = clock.now();
    await clock.advance(25_000);
    expect(simCalls(cloud, 'UnassignPrivateIpAddresses')).toHaveLength(0); // still cooling
    // The burst is remembered for 15 min (the pool keeps room for it again), then the pool shrinks.
    await clock.advance(300_000);
    expect(simCalls(cloud, 'UnassignPrivateIpAddresses')).toHaveLength(0);
    await clock.advance(700_000);
    const unassign = simCalls(cloud, 'UnassignPrivateIpAddresses');
    const detach = simCalls(cloud, 'DetachNetworkInterface');
    expect(unassign.length + detach.length).toBeGreaterThan(0);
    expect(Math.min(...[...unassign, ...detach].map((c) => c.at))).toBeGreaterThanOrEqual(released + 30_000);
    // Shrunk to the buffer (more than 2 × 10 free was too many): the primary and one secondary are left.
    expect(core.status()).toMatchObject({ interfaces: 2, assigned: 0 });
    expect(core.status().free).toBeGreaterThanOrEqual(10);
    expect(core.status().free).toBeLessThanOrEqual(20);
  });
});

describe('subnet discovery', () => {
  const subnets = [
    { id: 'subnet-node', cidr: '10.0.0.0/26', zone: 'us-east-1a' },
    { id: 'subnet-big-untagged', cidr: '10.0.4.0/22', zone: 'us-east-1a' },
    { id: 'subnet-cni', cidr: '10.0.1.0/24', zone: 'us-east-1a', tags: { 'kubernetes.io/role/cni': '1' } },
    {
      id: 'subnet-other-zone',
      cidr: '10.0.8.0/22',
      zone: 'us-east-1b',
      tags: { 'kubernetes.io/role/cni': '1' },
    },
  ];
  const secondarySubnet = async (env: Record<string, string>) => {
    node = makeNode({ env, sim: { subnets, zones: ['us-east-1a', 'us-east-1b'] } });
    const { clock, core } = node;
    await settle(clock, node.core.start());
    await clock.advance(6_000);
    await settle(
      clock,
      Promise.all(Array.from({ length: 9 }, (_, i) => core.allocate(key(`c${i}`), pod(`p${i}`)))),
    );
    await clock.advance(6_000);
    return core.snapshot().interfaces.find((i) => !i.primary)?.subnetId;
  };

  test('a new interface goes to the tagged subnet of the zone with the most free addresses', async () => {
    expect(await secondarySubnet({})).toBe('subnet-cni');
  });

  test('with ENABLE_SUBNET_DISCOVERY=false it stays in the node subnet', async () => {
    expect(await secondarySubnet({ ENABLE_SUBNET_DISCOVERY: 'false' })).toBe('subnet-node');
  });
});

describe('custom networking', () => {
  // AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true: pods live only on secondary interfaces (in the ENIConfig's
  // subnet), never on the primary, which stays in the node's subnet — as with the incumbent.
  const custom = {
    AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: 'true',
    TIDEPOOL_KUBERNETES: 'true',
    KUBECONFIG: '/nonexistent/kubeconfig',
    MY_NODE_NAME: 'node-1',
  };

  test('no pod gets an address of the primary interface, which is never topped up', async () => {
    node = makeNode({ env: custom });
    const { clock, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    // m5.large: 3 interfaces of 10 addresses; without the primary, 2 × 9 are the pods'.
    expect(core.status().capacity).toBe(18);
    const all = await settle(
      clock,
      Promise.all(Array.from({ length: 18 }, (_, i) => core.allocate(key(`p${i}`), pod(`p${i}`)))),
    );
    const devices = all.map((r) => r.allocation.deviceNumber);
    expect(devices.every((d) => d > 0)).toBe(true);
    expect(new Set(devices).size).toBe(2);
    const primary = core.snapshot().interfaces.find((i) => i.primary)!;
    expect(primary.addresses.filter((a) => a.state !== 'free')).toEqual([]);
    // The primary was never asked for more addresses than it booted with.
    expect(primary.addresses.length).toBe(0);
  });

  test('without it the first pod lands on the primary, as before', async () => {
    node = makeNode({ env: { WARM_IP_TARGET: '1' } });
    const { clock, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    expect(core.status().capacity).toBe(27);
    expect((await core.allocate(key('a'), pod('a'))).allocation.deviceNumber).toBe(0);
  });
});
