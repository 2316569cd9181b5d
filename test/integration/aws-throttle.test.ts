// Throttling: a fault proxy in front of LocalStack answers 30% of EC2 calls with RequestLimitExceeded and
// 5% with a bare 503. The SDK makes one attempt per call (maxAttempts 1); the daemon's budget owns backoff.
// The pool must still converge, no allocation may be lost, and EC2 must see at most 2× the calls of the
// same workload without faults.
import { PoolWaitTimeoutError } from '../../ipamd/types.js';
import { ThrottledError, TransientError } from '../../providers/errors.js';
import { FaultProxy } from '../../localstack/fault-proxy.js';
import { seed, useLocalStack, type LocalStackLease } from '../helpers/localstack.js';
import { awsNode, type AwsNode } from '../helpers/localstack-node.js';

let ls: LocalStackLease;
const open: { node?: AwsNode; proxy: FaultProxy }[] = [];
beforeAll(() => {
  ls = useLocalStack();
});
afterAll(async () => {
  for (const o of open) {
    await o.node?.cleanup();
    await o.proxy.stop();
  }
  ls?.release();
});

const PODS = 24;
const pod = (n: number) => ({
  namespace: 'default',
  name: `p${n}`,
  uid: `u${n}`,
  netns: `/var/run/netns/p${n}`,
});
const key = (n: number) => ({ network: 'tidepool', containerId: `c${n}`, ifname: 'eth0' });

interface Run {
  calls: number;
  addresses: string[];
  node: AwsNode;
}

/** Start a node, fill its warm pool, allocate PODS pods one after another, wait until the pool is idle. */
async function workload(
  throttleRate: number,
  unavailableRate: number,
): Promise<Run & { proxy: FaultProxy; timeouts: number }> {
  const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
  const proxy = new FaultProxy({
    target: ls.endpoint,
    throttleRate,
    unavailableRate,
    seed: Number(process.env.TIDEPOOL_FAULT_SEED ?? 2),
  });
  await proxy.start();
  const entry: { node?: AwsNode; proxy: FaultProxy } = { proxy };
  open.push(entry);
  const node = await awsNode(ls.ec2, ls.endpoint, seeded, { ec2Endpoint: proxy.url });
  entry.node = node;
  const started = node.core.start();
  await node.drive(async () => node.core.ready, 600_000);
  await started;
  const addresses: string[] = [];
  let timeouts = 0;
  for (let n = 1; n <= PODS; n++) {
    // Like the kubelet, a pod whose ADD timed out waiting (TIDEPOOL_ADD_WAIT_MS) is tried again.
    for (;;) {
      const p = node.core.allocate(key(n), pod(n));
      let done = false;
      void p.then(
        () => (done = true),
        () => (done = true),
      );
      await node.drive(() => done, 600_000, 100);
      const out = await p.catch((err: Error) => err);
      if (out instanceof PoolWaitTimeoutError && ++timeouts < 20) continue;
      if (out instanceof Error) throw out;
      addresses.push(out.allocation.address);
      break;
    }
  }
  // 24 pods on an m5.large: all three ENIs, every slot (27) assigned.
  await node.drive(
    () => node.core.reconciler.inFlight.size === 0 && node.core.status().total === 27,
    600_000,
  );
  return { calls: proxy.counts.total, addresses, node, proxy, timeouts };
}

test('30% RequestLimitExceeded + 5% 503: the pool converges, nothing is lost, calls stay within 2× the fault-free run', async () => {
  const clean = await workload(0, 0);
  const cleanCalls = clean.calls;
  expect(clean.node.provider.calls.size).toBeGreaterThan(0);
  const faulty = await workload(0.3, 0.05);
  {
    const { proxy, node } = faulty;
    // No retry storm: the SDK does not retry under the budget.
    process.stdout.write(
      `throttle run: ${faulty.calls} EC2 requests with faults vs ${cleanCalls} without ` +
        `(${proxy.counts.throttled} throttled, ${proxy.counts.unavailable} 503; ADD waits expired: ` +
        `${faulty.timeouts} vs ${clean.timeouts})\n`,
    );
    // The faults really happened, at about the asked rates.
    expect(proxy.counts.throttled).toBeGreaterThan(0);
    expect((proxy.counts.throttled + proxy.counts.unavailable) / proxy.counts.total).toBeGreaterThan(0.2);
    // Every pod got a distinct address, and each is on one of the node's ENIs in EC2 with its allocation.
    expect(new Set(faulty.addresses).size).toBe(PODS);
    const ec2 = await node.ec2View();
    const onEc2 = new Set([...ec2.values()].flat());
    for (const a of faulty.addresses) expect(onEc2.has(a)).toBe(true);
    expect(
      node.core
        .snapshot()
        .allocations.map((a) => a.address)
        .sort(),
    ).toEqual([...faulty.addresses].sort());
    // The daemon's view equals EC2's: no address was assigned without the daemon knowing, none lost.
    const daemon = node.daemonView();
    expect([...daemon.keys()].sort()).toEqual([...ec2.keys()].sort());
    for (const [id, addrs] of ec2) expect(daemon.get(id)).toEqual(addrs);
    // No retry storm: the SDK does not retry under the budget.
    expect(faulty.calls).toBeLessThanOrEqual(2 * cleanCalls);
  }
}, 300_000);

test('a bare 503 is a TransientError, RequestLimitExceeded a ThrottledError, each sent once (SDK retries off)', async () => {
  const seeded = await seed(ls.ec2, { instanceTypes: ['t3.medium'] });
  for (const [throttleRate, unavailableRate, expected] of [
    [0, 1, TransientError],
    [1, 0, ThrottledError],
  ] as const) {
    const proxy = new FaultProxy({ target: ls.endpoint, throttleRate, unavailableRate });
    await proxy.start();
    const entry: { node?: AwsNode; proxy: FaultProxy } = { proxy };
    open.push(entry);
    entry.node = await awsNode(ls.ec2, ls.endpoint, seeded, { ec2Endpoint: proxy.url });
    // DescribeInstanceTypes fails too: the limits come from the shipped table instead.
    const node = await entry.node.provider.describeNode();
    expect(node.limits).toMatchObject({ maxInterfaces: 3, ipv4PerInterface: 6 });
    const err = await entry.node.provider.listInterfaces().catch((e: Error) => e);
    expect(err).toBeInstanceOf(expected);
    expect([...proxy.counts.byAction]).toEqual([
      ['DescribeInstanceTypes', 1],
      ['DescribeNetworkInterfaces', 1],
    ]);
  }
});
