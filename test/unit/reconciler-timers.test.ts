// Shrink with the AWS timers, throttling backoff, restart and repair, in virtual time on the sim.
import { afterEach, describe, expect, test } from '@jest/globals';
import { key, makeNode, pod, settle, simCalls, type TestNode } from './core.harness.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.cleanup();
  node = undefined;
});

describe('shrink with the AWS timers', () => {
  test('releases wait for cooldown, are 30 s apart, and an ENI is freed only after 60 s of life', async () => {
    node = makeNode({ env: { WARM_IP_TARGET: '2' } });
    const { clock, cloud, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    expect(core.status()).toMatchObject({ total: 2, free: 2 });

    // 10 pods: the primary grows to 9, then an ENI is attached for the rest plus 2 warm.
    await settle(
      clock,
      Promise.all(Array.from({ length: 10 }, (_, i) => core.allocate(key(`c${i}`), pod(`p${i}`)))),
    );
    await clock.advance(6_000);
    expect(core.status()).toMatchObject({ assigned: 10, free: 2, interfaces: 2 });
    const attachedAt = simCalls(cloud, 'AttachNetworkInterface')[0].at;

    // Two batches of releases 10 s apart: their cooldowns end 10 s apart.
    const t1 = clock.now();
    for (let i = 0; i < 5; i++) await core.release(key(`c${i}`), 'test');
    await clock.advance(10_000);
    for (let i = 5; i < 10; i++) await core.release(key(`c${i}`), 'test');
    await clock.advance(19_000); // t1 + 29 s: everything released is still cooling
    expect(simCalls(cloud, 'UnassignPrivateIpAddresses')).toHaveLength(0);

    await clock.advance(120_000);
    const unassign = simCalls(cloud, 'UnassignPrivateIpAddresses');
    expect(unassign.length).toBeGreaterThanOrEqual(2);
    expect(unassign[0].at).toBeGreaterThanOrEqual(t1 + 30_000);
    // The 30 s decrease gap between two scale-downs (one scale-down may call once per interface).
    const rounds = [...new Set(unassign.map((c) => c.at))];
    expect(rounds.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < rounds.length; i++) expect(rounds[i] - rounds[i - 1]).toBeGreaterThan(30_000);
    const detach = simCalls(cloud, 'DetachNetworkInterface');
    expect(detach).toHaveLength(1);
    expect(detach[0].at - attachedAt).toBeGreaterThanOrEqual(60_000);
    expect(core.status()).toMatchObject({ assigned: 0, total: 2, free: 2, interfaces: 1 });
  });
});

describe('throttling', () => {
  test('throttled calls slow down (paced, multiplicative decrease) with jittered gaps and converge, with no storm', async () => {
    node = makeNode({ sim: { faults: { AssignPrivateIpAddresses: { next: 4, error: 'throttle' } } } });
    const { clock, cloud, core } = node;
    await settle(clock, core.start());
    await clock.advance(60_000);
    const assigns = simCalls(cloud, 'AssignPrivateIpAddresses');
    expect(assigns.map((c) => c.outcome)).toEqual([
      'RequestLimitExceeded',
      'RequestLimitExceeded',
      'RequestLimitExceeded',
      'RequestLimitExceeded',
      'ok',
    ]);
    const gaps = assigns.slice(1).map((c, i) => c.at - assigns[i].at);
    // Paced (ipamd/pacing.ts): 1 call/s after the first throttle, halved by each later one at least 1 s
    // apart; every gap jittered within [0.5, 1.5] × 1/rate, so within 1.5 s × 2^i, and not all equal.
    gaps.forEach((g, i) => expect(g).toBeLessThanOrEqual(1500 * 2 ** i));
    gaps.forEach((g) => expect(g).toBeGreaterThanOrEqual(500));
    expect(new Set(gaps).size).toBeGreaterThan(1);
    expect(node.calls.filter((c) => c.outcome === 'throttled')).toHaveLength(4);
    expect(core.status()).toMatchObject({ total: 9, free: 9 });
  });

  test('a cloud-wide throttle (tiny bucket) slows growth but every parked request is served', async () => {
    node = makeNode({
      instanceType: 'm5.4xlarge',
      sim: { throttle: { AssignPrivateIpAddresses: { capacity: 1, refillPerSec: 0.2 } } },
      env: { WARM_IP_TARGET: '1', TIDEPOOL_ADD_WAIT_MS: '60000' },
    });
    const { clock, cloud, core } = node;
    await settle(clock, core.start());
    await clock.advance(1_000);
    const results = await settle(
      clock,
      Promise.all(Array.from({ length: 40 }, (_, i) => core.allocate(key(`c${i}`), pod(`p${i}`)))),
    );
    expect(new Set(results.map((r) => r.allocation.address)).size).toBe(40);
    const assigns = simCalls(cloud, 'AssignPrivateIpAddresses');
    // Growth is a handful of batched calls, not one per pod.
    expect(assigns.filter((c) => c.outcome === 'ok').length).toBeLessThanOrEqual(4);
    expect(assigns.length).toBeLessThan(20);
  });
});

describe('restart', () => {
  test('a restart keeps allocations and cooldowns', async () => {
    node = makeNode({ env: { MAX_ENI: '1', TIDEPOOL_ADD_WAIT_MS: '60000' } });
    const { clock } = node;
    let core = node.core;
    await settle(clock, core.start());
    await clock.advance(6_000);
    const held = [];
    for (let i = 0; i < 9; i++)
      held.push((await core.allocate(key(`c${i}`), pod(`p${i}`))).allocation.address);
    const cooled = (await core.release(key('c0'), 'test'))!.address;
    await settle(clock, core.stop());

    core = await node.restart();
    await settle(clock, core.start());
    expect(core.check(key('c1'))?.address).toBe(held[1]);
    const snap = core.snapshot();
    const entry = snap.interfaces.flatMap((i) => i.addresses).find((a) => a.address === cooled);
    expect(entry?.state).toBe('cooling');
    // The only address not in use is cooling: a new ADD waits for its cooldown, then gets it.
    const t0 = clock.now();
    const r = await settle(clock, core.allocate(key('c9'), pod('p9')));
    expect(r.allocation.address).toBe(cooled);
    expect(clock.now() - t0).toBeGreaterThan(10_000);
  });

  test('after a crash the intents still open are handed to the provider and closed', async () => {
    node = makeNode();
    const { clock, store, provider } = node;
    // A crash mid-attach: the journal says an interface was being created with this token.
    store.begin('attachInterface', { clientToken: 'tok-1', deviceIndex: 1 });
    const handed: unknown[] = [];
    const repair = provider.repairIntents.bind(provider);
    provider.repairIntents = async (intents) => {
      handed.push(...intents.map((i) => ({ kind: i.kind, details: i.details })));
      return repair(intents);
    };
    const core = node.core;
    await settle(clock, core.start());
    expect(handed).toEqual([{ kind: 'attachInterface', details: { clientToken: 'tok-1', deviceIndex: 1 } }]);
    expect(store.openIntents()).toEqual([]);
    expect(core.status().ready).toBe(true);
  });

  test('an intent the provider could not repair stays open for the next start; the node still starts', async () => {
    node = makeNode();
    const { clock, store, provider } = node;
    const id = store.begin('attach-interface', { clientToken: 'tok-2', deviceIndex: 1 });
    const repair = provider.repairIntents.bind(provider);
    provider.repairIntents = async () => [id]; // e.g. EC2 refused the delete
    await settle(clock, node.core.start());
    expect(node.core.status().ready).toBe(true);
    expect(store.openIntents().map((i) => i.id)).toEqual([id]);

    // The next start repairs it.
    await settle(clock, node.core.stop());
    provider.repairIntents = repair;
    const core = await settle(clock, node.restart());
    await settle(clock, core.start());
    expect(node.store.openIntents()).toEqual([]);
  });

  test('an interface the cloud has and the store lacks is adopted by the resync', async () => {
    node = makeNode();
    const { clock, provider, core } = node;
    // Attached behind the daemon's back (e.g. by a daemon that crashed before recording it).
    const ci = await settle(
      clock,
      provider.attachInterface({
        subnetId: (await settle(clock, provider.describeNode())).subnetId,
        securityGroups: [],
        deviceIndex: 1,
        addresses: 4,
        clientToken: 'x',
      }),
    );
    await settle(clock, core.start());
    const snap = core.snapshot();
    expect(snap.interfaces.map((i) => i.id)).toContain(ci.id);
    expect(snap.interfaces.find((i) => i.id === ci.id)?.addresses).toHaveLength(4);
  });

  test('stop refuses new allocations and closes the store', async () => {
    node = makeNode();
    const { clock, core, store } = node;
    await settle(clock, core.start());
    await settle(clock, core.stop());
    await expect(core.allocate(key('c1'), pod('p1'))).rejects.toThrow(/shutting down/);
    expect(store.isOpen).toBe(false);
  });
});

describe('state of another instance', () => {
  test("a database recorded for another instance is not this node's pool: it is discarded on start", async () => {
    node = makeNode();
    const { clock, store } = node;
    store.setInstanceId('i-someoneelse');
    store.putInterface({
      id: 'eni-foreign',
      deviceNumber: 1,
      mac: '02:00:00:00:00:09',
      subnetId: 'subnet-x',
      subnetCidr: '10.9.0.0/24',
      primaryAddress: '10.9.0.5',
      primary: false,
      attachedAt: clock.now(),
    });
    await settle(clock, node.core.start());
    expect(node.core.snapshot().interfaces.map((i) => i.id)).not.toContain('eni-foreign');
    expect(store.instanceId()).toBe(node.provider.instanceId);
  });
});

describe('resync', () => {
  test('an empty or partial listing (no primary interface) drops nothing', async () => {
    node = makeNode();
    const { clock, provider, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    await core.allocate(key('a'), pod('a'));
    const list = provider.listInterfaces.bind(provider);
    provider.listInterfaces = async () => [];
    await clock.advance(120_000); // two resyncs, long past the grace
    expect(core.check(key('a'))).not.toBeNull();
    // Grown as WARM_ENI_TARGET=1 asks (one ENI more), nothing dropped.
    expect(core.status()).toMatchObject({ total: 18, interfaces: 2, assigned: 1 });
    provider.listInterfaces = list;
  });

  test('addresses the cloud no longer has are dropped after the grace; new ones are adopted', async () => {
    node = makeNode();
    const { clock, provider, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    const eni = core.snapshot().interfaces[0];
    const [gone] = eni.addresses.map((a) => a.address);
    await settle(clock, provider.releaseAddresses(eni.id, [gone])); // behind the daemon's back
    const added = await settle(clock, provider.assignAddresses(eni.id, 1));
    await clock.advance(125_000); // a resync after the 60 s grace

    const now = core.snapshot().interfaces[0].addresses.map((a) => a.address);
    expect(now).not.toContain(gone);
    expect(now).toContain(added[0]);
  });

  test('slots the cloud lists as taken by nothing of the pool are never asked for again', async () => {
    // An emulator may list one address twice on an ENI: the slot is taken and holds nothing of ours.
    node = makeNode({ env: { WARM_IP_TARGET: '2', MAX_ENI: '1' } });
    const { clock, cloud, provider, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    expect(core.status()).toMatchObject({ total: 2, free: 2, interfaces: 1 });
    const list = provider.listInterfaces.bind(provider);
    provider.listInterfaces = async () =>
      (await list()).map((ci) => ({
        ...ci,
        addresses: [...ci.addresses, ...Array(7).fill(ci.addresses[0])],
      }));
    await clock.advance(65_000); // a resync: 2 addresses of ours in 9 listed entries, the ENI is full
    const assigned = simCalls(cloud, 'AssignPrivateIpAddresses').length;

    // Two pods take the two addresses; WARM_IP_TARGET asks for 2 more, but there is no slot for them.
    await core.allocate(key('a'), pod('a'));
    await core.allocate(key('b'), pod('b'));
    await clock.advance(30_000);
    expect(simCalls(cloud, 'AssignPrivateIpAddresses')).toHaveLength(assigned);
    expect(core.snapshot().interfaces[0].addresses).toHaveLength(2);

    // The listing is right again: the next resync frees the slots and the pool grows.
    provider.listInterfaces = list;
    await clock.advance(65_000);
    expect(simCalls(cloud, 'AssignPrivateIpAddresses').length).toBeGreaterThan(assigned);
    expect(core.status()).toMatchObject({ assigned: 2, free: 2 });
  });
});

describe('crash mid-release', () => {
  test('an address whose release was cut short is never served from the store after a restart', async () => {
    node = makeNode({ env: { MAX_ENI: '1' } });
    const { clock, provider } = node;
    let core = node.core;
    await settle(clock, core.start());
    await clock.advance(6_000);
    const eni = core.snapshot().interfaces[0];
    const [gone, kept] = eni.addresses.map((a) => a.address);
    await settle(clock, core.stop());
    // The daemon wrote its intent and the cloud released `gone` and `kept`... then the daemon died;
    // `kept` is still in the cloud (the call never reached it).
    const store = (await node.restart(), node.store);
    store.begin('pool-release', { interfaceId: eni.id, addresses: [gone, kept], prefixes: [] });
    await settle(clock, provider.releaseAddresses(eni.id, [gone]));
    core = node.core;
    const starting = core.start();
    // Served from the store at once, before the cloud is listed: 7 addresses, neither of the two.
    const first = await Promise.all(
      Array.from({ length: 7 }, (_, i) => core.allocate(key(`c${i}`), pod(`p${i}`))),
    );
    expect(first.map((r) => r.allocation.address)).not.toContain(gone);
    expect(first.map((r) => r.allocation.address)).not.toContain(kept);
    await settle(clock, starting);
    // The first listing adopts `kept` again; `gone` stays gone.
    const now = core.snapshot().interfaces[0].addresses.map((a) => a.address);
    expect(now).toContain(kept);
    expect(now).not.toContain(gone);
  });
});

describe('start', () => {
  test('a start that fails (missing permission) is retried with backoff until the node is ready', async () => {
    node = makeNode({ sim: { faults: { DescribeInstances: { next: 2, error: 'unauthorized' } } } });
    const { clock, cloud, core } = node;
    await settle(clock, core.start());
    expect(core.ready).toBe(true);
    const describes = simCalls(cloud, 'DescribeInstances');
    expect(describes.map((c) => c.outcome)).toEqual(['UnauthorizedOperation', 'UnauthorizedOperation', 'ok']);
    expect(describes[2].at - describes[1].at).toBeGreaterThanOrEqual(4_000);
    expect(core.snapshot().cloud.waitingOn).toMatch(
      /last cloud error .* UnauthorizedOperation|not authorized/i,
    );
  });

  test('stop during a start that keeps failing ends the start and closes the store', async () => {
    node = makeNode({ sim: { faults: { DescribeInstances: { next: 1000, error: 'unauthorized' } } } });
    const { clock, core, store } = node;
    const starting = core.start();
    starting.catch(() => undefined);
    await clock.advance(20_000);
    expect(core.ready).toBe(false);
    expect(core.status().message).toMatch(/starting: .*UnauthorizedOperation|starting: .*not authorized/i);
    await settle(clock, core.stop());
    await expect(starting).rejects.toThrow(/stopped before the node was ready/);
    expect(store.isOpen).toBe(false);
  });
});
