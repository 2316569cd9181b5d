// Virtual-time tests of the reconciler and core against the in-process sim cloud.
import { afterEach, describe, expect, test } from '@jest/globals';
import { key, makeNode, pod, settle, simCalls, type TestNode } from './core.harness.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.cleanup();
  node = undefined;
});

describe('growth', () => {
  test('WARM_ENI_TARGET=1 on m5.large: the primary is filled with 9, then an ENI of 9 once pods use it', async () => {
    node = makeNode();
    const { clock, cloud, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    expect(core.status()).toMatchObject({ ready: true, total: 9, free: 9, interfaces: 1 });
    expect(simCalls(cloud, 'AssignPrivateIpAddresses')).toHaveLength(1);

    for (let i = 0; i < 5; i++) await core.allocate(key(`c${i}`), pod(`p${i}`));
    await clock.advance(6_000);
    // available 4 < 9 and the primary is full → one ENI with 9 addresses.
    expect(core.status()).toMatchObject({ total: 18, assigned: 5, free: 13, interfaces: 2 });
    expect(simCalls(cloud, 'AttachNetworkInterface')).toHaveLength(1);
    const listed = await settle(clock, node.provider.listInterfaces());
    expect(listed.flatMap((i) => i.addresses).sort()).toEqual(
      core
        .snapshot()
        .interfaces.flatMap((i) => i.addresses.map((a) => a.address))
        .sort(),
    );
  });
});

describe('parked requests', () => {
  test('20 concurrent Allocates on an empty node are served by exactly one AssignPrivateIpAddresses', async () => {
    node = makeNode({ instanceType: 'm5.4xlarge', sim: { latency: 'realistic', seed: 7 } });
    const { clock, cloud, core } = node;
    const started = core.start();
    // The node has no secondary address yet: every request parks, none fails.
    const outcomes = Array.from({ length: 20 }, (_, i) => core.allocate(key(`c${i}`), pod(`p${i}`)));
    await settle(clock, started);
    const results = await settle(clock, Promise.all(outcomes));
    expect(new Set(results.map((r) => r.allocation.address)).size).toBe(20);
    expect(results.every((r) => !r.reused && r.waitedMs > 0)).toBe(true);
    // WARM_ENI_TARGET=1 counts the 20 parked as demand: one call fills the primary (29 on m5.4xlarge).
    expect(simCalls(cloud, 'AssignPrivateIpAddresses')).toHaveLength(1);
    expect(simCalls(cloud, 'AttachNetworkInterface')).toHaveLength(0);
    expect(core.status()).toMatchObject({ total: 29, assigned: 20, parked: 0 });
    // Waited about one assign round trip (realistic sim: median 0.5 s), not a 5 s tick.
    const waited = Math.max(...results.map((r) => r.waitedMs));
    expect(waited).toBeLessThan(5_000);
  });

  test('a repeated ADD with the same key returns the same allocation', async () => {
    node = makeNode();
    const { clock, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    const a = await core.allocate(key('c1'), pod('p1'));
    const b = await core.allocate(key('c1'), pod('p1'));
    expect(b).toMatchObject({ reused: true, allocation: { address: a.allocation.address } });
    expect(core.check(key('c1'))?.address).toBe(a.allocation.address);
    expect(await core.release(key('c1'), 'test')).not.toBeNull();
    expect(await core.release(key('c1'), 'test')).toBeNull();
  });

  test('requests beyond one interface are served without failing (the interfaces they need, attached in one round)', async () => {
    node = makeNode({ sim: { latency: 'realistic', seed: 3 } });
    const { clock, cloud, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    const results = await settle(
      clock,
      Promise.all(Array.from({ length: 25 }, (_, i) => core.allocate(key(`c${i}`), pod(`p${i}`)))),
    );
    expect(new Set(results.map((r) => r.allocation.address)).size).toBe(25);
    expect(simCalls(cloud, 'AttachNetworkInterface').length).toBe(2);
  });
});

describe('node full', () => {
  test('fails at once with a message naming the counts, the instance type and MAX_ENI', async () => {
    node = makeNode({ env: { MAX_ENI: '1' } });
    const { clock, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    for (let i = 0; i < 9; i++) await core.allocate(key(`c${i}`), pod(`p${i}`));
    await expect(core.allocate(key('c9'), pod('p9'))).rejects.toThrow(
      'node full: 9 of 9 addresses in use on 1 interfaces (instance type m5.large, MAX_ENI 1)',
    );
  });

  test('waits for a cooling address when its cooldown ends within TIDEPOOL_ADD_WAIT_MS', async () => {
    node = makeNode({ env: { MAX_ENI: '1', IP_COOLDOWN_PERIOD: '5' } });
    const { clock, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    for (let i = 0; i < 9; i++) await core.allocate(key(`c${i}`), pod(`p${i}`));
    const freed = (await core.release(key('c0'), 'test'))!.address;
    const t0 = clock.now();
    const r = await settle(clock, core.allocate(key('c9'), pod('p9')));
    expect(r.allocation.address).toBe(freed);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(5_000);
  });

  test('a cooling address whose cooldown outlasts the wait makes the node full now, and says so', async () => {
    node = makeNode({ env: { MAX_ENI: '1' } }); // cooldown 30 s > wait 10 s
    const { clock, core } = node;
    await settle(clock, core.start());
    await clock.advance(6_000);
    for (let i = 0; i < 9; i++) await core.allocate(key(`c${i}`), pod(`p${i}`));
    await core.release(key('c0'), 'test');
    await expect(core.allocate(key('c9'), pod('p9'))).rejects.toThrow(
      /node full: 8 of 9 .* 1 more are cooling/,
    );
  });
});

describe('comparison mode (incumbent)', () => {
  test('pre-scales before it is ready, then an ADD fails at once on an empty pool and the pool grows only on the 5 s tick', async () => {
    node = makeNode({ env: { TIDEPOOL_COMPARISON_MODE: 'incumbent' } });
    const { clock, cloud, core } = node;
    // handlePreScaling: the primary (m5.large: 9 addresses for pods) is filled before the node is ready.
    await settle(clock, core.start());
    expect(simCalls(cloud, 'AssignPrivateIpAddresses')).toHaveLength(1);
    expect(core.status()).toMatchObject({ total: 9, assigned: 0 });
    for (let i = 0; i < 9; i++) await core.allocate(key(`c${i}`), pod(`p${i}`));
    await expect(core.allocate(key('c9'), pod('p9'))).rejects.toThrow(/no free address in the pool/);
    expect(simCalls(cloud, 'AttachNetworkInterface')).toHaveLength(0);
    await clock.advance(2_600); // the first 2.5 s half-tick: one step (a new ENI with 9)
    expect(simCalls(cloud, 'AttachNetworkInterface')).toHaveLength(1);
    await expect(core.allocate(key('c9'), pod('p9'))).resolves.toMatchObject({ reused: false });
  });

  test('cooling addresses count as available: the incumbent does not grow, Tidepool does', async () => {
    const run = async (mode: string) => {
      const n = makeNode({ env: { TIDEPOOL_COMPARISON_MODE: mode, WARM_IP_TARGET: '2' } });
      try {
        await settle(n.clock, n.core.start());
        await n.clock.advance(11_000);
        // Two free; take both and give them back: both cool for 30 s.
        await n.core.allocate(key('a'), pod('a'));
        await n.core.allocate(key('b'), pod('b'));
        await n.clock.advance(11_000); // grows back to 2 free (4 total)
        await n.core.allocate(key('c'), pod('c'));
        await n.core.allocate(key('d'), pod('d'));
        await n.core.release(key('a'), 'x');
        await n.core.release(key('b'), 'x');
        const before = n.core.status().total;
        await n.clock.advance(11_000);
        return { before, after: n.core.status().total, free: n.core.status().free };
      } finally {
        await n.cleanup();
      }
    };
    const tidepool = await run('off');
    const incumbent = await run('incumbent');
    expect(tidepool.after).toBeGreaterThan(tidepool.before);
    expect(tidepool.free).toBe(2);
    expect(incumbent.after).toBe(incumbent.before);
    expect(incumbent.free).toBe(0);
  });
});
