// The daemon's real pool engine on the Azure provider, through the real SDK against the ARM double: the pool
// fills and shrinks; concurrent bursts share PUTs, never two in flight on the NIC; at the VM's 256
// addresses the daemon stops and says the node is full; 200 concurrent ADD/DEL pairs never give one
// address to two pods. ARM's view (the double's NIC) always equals the daemon's.
import { NodeFullError } from '../../ipamd/core/types.js';
import { azureCloud, azureNode, type AzureCloud, type AzureNode } from '../helpers/azure-node.js';

const pod = (n: number) => ({
  namespace: 'default',
  name: `p${n}`,
  uid: `u${n}`,
  netns: `/var/run/netns/p${n}`,
});
const key = (n: number) => ({ network: 'tidepool', containerId: `c${n}`, ifname: 'eth0' });

let cloud: AzureCloud;
let node: AzureNode;
afterEach(async () => {
  await node?.stop();
  await cloud?.stop();
});

async function started(env: Record<string, string>, latency = 50) {
  cloud = await azureCloud({ latencyMs: () => latency });
  node = await azureNode(cloud, env);
  const s = node.core.start();
  await node.drive(() => node.core.reconciler.ready);
  await s;
}

const idle = () => node.core.reconciler.inFlight.size === 0;

async function allocateAll(ns: number[]) {
  const ps = ns.map((n) => node.core.allocate(key(n), pod(n)));
  let settled = 0;
  ps.forEach(
    (p) =>
      void p.then(
        () => settled++,
        () => settled++,
      ),
  );
  await node.drive(() => settled === ps.length, 120_000);
  return Promise.all(ps);
}

test('fills to WARM_IP_TARGET, grows with pods, shrinks after release; ARM and the daemon agree', async () => {
  await started({ WARM_IP_TARGET: '5', IP_COOLDOWN_PERIOD: '0' });
  await node.drive(() => node.core.status().free >= 5 && idle());
  expect(cloud.arm.secondaries(cloud.nicName)).toEqual(node.daemonAddresses());
  expect(node.daemonAddresses()).toHaveLength(5);
  const got = await allocateAll([1, 2, 3, 4, 5, 6, 7, 8]);
  expect(new Set(got.map((g) => g.allocation.address)).size).toBe(8);
  await node.drive(() => node.core.status().free >= 5 && idle());
  expect(cloud.arm.secondaries(cloud.nicName)).toEqual(node.daemonAddresses());
  expect(node.daemonAddresses().length).toBeGreaterThanOrEqual(13);
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) await node.core.release(key(n), 'test');
  // The 30 s decrease gap passes in virtual time; the pool gives back all but 5.
  await node.drive(() => node.daemonAddresses().length === 5 && idle());
  expect(cloud.arm.secondaries(cloud.nicName)).toEqual(node.daemonAddresses());
});

test('flat-cost writes: a drain is given back in one PUT, once the free count has stopped rising', async () => {
  await started({ WARM_IP_TARGET: '2', IP_COOLDOWN_PERIOD: '0' });
  await node.drive(() => node.core.status().free >= 2 && idle());
  await allocateAll([1, 2, 3, 4, 5, 6]);
  await node.drive(() => node.core.status().free >= 2 && idle());
  const held = node.daemonAddresses().length;
  expect(held).toBeGreaterThanOrEqual(8);
  const before = cloud.arm.puts.length;
  // Six pods go, one every 3 s of virtual time: the pool is over its target all along, but drains.
  for (const n of [1, 2, 3, 4, 5, 6]) {
    await node.core.release(key(n), 'test');
    const t = node.clock.now();
    await node.drive(() => node.clock.now() - t >= 3_000);
  }
  const last = node.clock.now() - 3_000;
  expect(cloud.arm.puts.length).toBe(before);
  await node.drive(() => node.clock.now() - last >= 8_000);
  expect(cloud.arm.puts.length).toBe(before);
  expect(node.daemonAddresses()).toHaveLength(held);
  await node.drive(() => node.daemonAddresses().length === 2 && idle());
  expect(node.clock.now() - last).toBeGreaterThanOrEqual(10_000);
  expect(cloud.arm.puts.length - before).toBe(1);
  expect(cloud.arm.puts.at(-1)!.removed).toBe(held - 2);
  expect(cloud.arm.secondaries(cloud.nicName)).toEqual(node.daemonAddresses());
});

test('flat-cost writes: adds asked for while a PUT is on the wire go together into the next one', async () => {
  await started({ WARM_IP_TARGET: '1', IP_COOLDOWN_PERIOD: '0' }, 400);
  await node.drive(() => node.core.status().free >= 1 && idle());
  const before = cloud.arm.puts.length;
  // 12 pods, one every 20 ms of virtual time: the first takes the warm address and starts a PUT; the
  // others park while it runs, and all that they lack goes into one more PUT (not one PUT each).
  const ps: Promise<unknown>[] = [];
  for (let n = 0; n < 12; n++) {
    ps.push(node.core.allocate(key(200 + n), pod(200 + n)));
    const t = node.clock.now();
    await node.drive(() => node.clock.now() - t >= 20);
  }
  let done = 0;
  ps.forEach((p) => void p.then(() => done++));
  await node.drive(() => done === 12, 120_000);
  expect(cloud.arm.puts.length - before).toBeLessThanOrEqual(4); // 6-7 when each waits its turn
  expect(cloud.arm.maxConcurrentPerNic).toBe(1);
});

test('ten concurrent bursts: fewer PUTs than bursts, never two PUTs in flight on the NIC, no 429', async () => {
  await started({ WARM_IP_TARGET: '1', IP_COOLDOWN_PERIOD: '0' }, 300);
  await node.drive(() => node.core.status().free >= 1 && idle());
  const before = cloud.arm.puts.length;
  const bursts = Array.from({ length: 10 }, (_, b) => Array.from({ length: 5 }, (_, i) => 100 + b * 5 + i));
  const all = await allocateAll(bursts.flat());
  const addresses = all.map((a) => a.allocation.address);
  expect(new Set(addresses).size).toBe(50);
  const puts = cloud.arm.puts.length - before;
  expect(puts).toBeLessThan(10);
  expect(cloud.arm.maxConcurrentPerNic).toBe(1);
  expect(cloud.arm.busyAnswers).toBe(0);
  await node.drive(idle);
  expect(cloud.arm.secondaries(cloud.nicName)).toEqual(node.daemonAddresses());
});

test("at the VM's 256 addresses the daemon stops growing and says the node is full", async () => {
  // Standard_D4s_v5 with one NIC: 256 per VM, 1 primary → 255 pod addresses.
  await started({ MINIMUM_IP_TARGET: '300', WARM_IP_TARGET: '1', TIDEPOOL_ADD_WAIT_MS: '2000' });
  await node.drive(() => node.daemonAddresses().length === 255 && idle());
  expect(cloud.arm.secondaries(cloud.nicName)).toHaveLength(255);
  const got = await allocateAll(Array.from({ length: 255 }, (_, i) => i + 1));
  expect(new Set(got.map((g) => g.allocation.address)).size).toBe(255);
  const extra = node.core.allocate(key(999), pod(999));
  extra.catch(() => undefined);
  let err: unknown;
  void extra.catch((e) => (err = e));
  await node.drive(() => err !== undefined, 30_000);
  expect(err).toBeInstanceOf(NodeFullError);
  expect(String(err)).toMatch(/node full: 255 of 255 addresses .*Standard_D4s_v5/);
  expect(cloud.arm.puts.filter((p) => p.status !== 200)).toEqual([]);
});

test('200 concurrent ADD/DEL pairs never hand one address to two pods', async () => {
  await started({ WARM_IP_TARGET: '8', IP_COOLDOWN_PERIOD: '0' });
  await node.drive(() => node.core.status().free >= 8 && idle());
  const holder = new Map<string, number>();
  const clashes: string[] = [];
  const pairs = Array.from({ length: 200 }, async (_, n) => {
    const out = await node.core.allocate(key(n), pod(n));
    const ip = out.allocation.address;
    if (holder.has(ip)) clashes.push(`${ip}: pods ${holder.get(ip)} and ${n}`);
    holder.set(ip, n);
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 5)));
    holder.delete(ip);
    await node.core.release(key(n), 'test');
  });
  let done = 0;
  pairs.forEach(
    (p) =>
      void p.then(
        () => done++,
        () => done++,
      ),
  );
  await node.drive(() => done === 200, 300_000);
  await Promise.all(pairs);
  expect(clashes).toEqual([]);
  await node.drive(idle);
  expect(cloud.arm.secondaries(cloud.nicName)).toEqual(node.daemonAddresses());
});
