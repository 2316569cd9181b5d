// What an operator sees of pacing and subnet scarcity: the core's cloudState(), the Prometheus series made
// from it, introspection and `tidepoolctl status`. A real node (sim cloud, virtual time) for the subnets; the
// budget with a throttling call for pacing.
import { afterEach, describe, expect, test } from '@jest/globals';
import { renderCloud } from '../../ctl/status.js';
import { CloudBudget } from '../../ipamd/cloud/budget.js';
import type { CloudState, Ipam } from '../../ipamd/core/types.js';
import { Metrics } from '../../ipamd/serve/metrics.js';
import { VirtualClock } from '../../providers/clock.js';
import { ThrottledError } from '../../providers/errors.js';
import { MemoryIpam } from '../helpers/memory-ipam.js';
import { key, makeNode, pod, settle, type TestNode } from './core.harness.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.cleanup();
  node = undefined;
});

/** A node in a /26 (59 usable addresses) that other instances have mostly taken. */
const crowdedNode = (others: number) => {
  const n = makeNode({
    env: { WARM_IP_TARGET: '2', MINIMUM_IP_TARGET: '2' },
    sim: {
      seed: 3,
      subnets: [{ id: 'subnet-node', cidr: '10.0.0.0/26', zone: 'us-east-1a' }],
      zones: ['us-east-1a'],
    },
  });
  for (let i = 0; i < others; i++)
    n.cloud.launchInstance({ instanceType: 't3.micro', subnetId: 'subnet-node' });
  return n;
};

describe("the core's view of its subnets", () => {
  test('a roomy subnet: its free addresses as the cloud answered, not scarce', async () => {
    node = crowdedNode(0);
    await settle(node.clock, node.core.start());
    await node.clock.advance(5_000);
    const { subnets } = node.core.cloudState();
    expect(subnets).toHaveLength(1);
    const s = subnets[0];
    expect(s).toMatchObject({ id: 'subnet-node', usable: 59, scarce: false });
    // As the cloud answered at the first poll, before the warm addresses were assigned: at most the
    // node's primary address is taken then.
    expect(s.free).toBeLessThanOrEqual(59 - 1);
    expect(s.free).toBeGreaterThanOrEqual(59 - 3);
    // One answer gives no drain yet: the watch asks again within 30 s, and then sees what is taken now.
    await node.clock.advance(30_000);
    const [cloudView] = (await node.provider.listSubnets!()).filter((x) => x.id === 'subnet-node');
    const [later] = node.core.cloudState().subnets;
    expect(later.free).toBe(cloudView.freeAddresses);
    expect(later.free).toBeLessThanOrEqual(59 - 3);
    expect(new Date(later.seenAt).getTime()).toBeGreaterThan(new Date(s.seenAt).getTime());
    expect(new Date(s.seenAt).getTime()).toBeLessThanOrEqual(node.clock.now());
  });

  test('a crowded subnet (under 10 % free) is reported scarce', async () => {
    node = crowdedNode(54);
    await settle(node.clock, node.core.start());
    await node.clock.advance(5_000);
    const [s] = node.core.cloudState().subnets;
    expect(s.id).toBe('subnet-node');
    expect(s.free).toBeLessThan(6);
    expect(s.scarce).toBe(true);
  });

  test('pacing lists every API class, unpaced on a quiet account', async () => {
    node = crowdedNode(0);
    await settle(node.clock, node.core.start());
    await settle(node.clock, node.core.allocate(key('a'), pod('a')));
    expect(node.core.cloudState().pacing).toEqual(
      ['describe', 'addresses', 'interfaces'].map((apiClass) => ({
        apiClass,
        paced: false,
        ratePerSec: null,
        decreases: 0,
      })),
    );
    // The snapshot (introspection's /v1/cloud-calls) carries the same.
    const { pacing, subnets } = node.core.snapshot().cloud;
    expect({ pacing, subnets }).toEqual(node.core.cloudState());
  });
});

describe('pacing as the budget reports it', () => {
  test('a throttled class is paced at its rate, with its decreases; it is unpaced again once recovered', async () => {
    const clock = new VirtualClock(0);
    const budget = new CloudBudget({ clock, random: () => 0.5 });
    let calls = 0;
    const call = budget.run('AssignPrivateIpAddresses', 'addresses', async () => {
      if (++calls <= 2)
        throw new ThrottledError('slow down', 'RequestLimitExceeded', 'AssignPrivateIpAddresses');
      return calls;
    });
    await settle(clock, call);
    const addresses = budget.pacing().find((p) => p.apiClass === 'addresses')!;
    expect(addresses.paced).toBe(true);
    expect(addresses.decreases).toBeGreaterThanOrEqual(1);
    expect(addresses.ratePerSec).toBeGreaterThan(0);
    expect(addresses.ratePerSec).toBeLessThanOrEqual(1);
    expect(
      budget
        .pacing()
        .filter((p) => p.paced)
        .map((p) => p.apiClass),
    ).toEqual(['addresses']);
    // +0.05 calls/s per second (DEFAULT_PACING) until 4 calls/s, where the class is unpaced again.
    await clock.advance(((4 - addresses.ratePerSec!) / 0.05) * 1000 - 1_000);
    expect(budget.pacing().find((p) => p.apiClass === 'addresses')!.paced).toBe(true);
    await clock.advance(2_000);
    expect(budget.pacing().find((p) => p.apiClass === 'addresses')).toMatchObject({
      paced: false,
      ratePerSec: null,
      decreases: addresses.decreases,
    });
    budget.close();
  });

  test('pacing off: no class listed', () => {
    const budget = new CloudBudget({ clock: new VirtualClock(0), pacing: false });
    expect(budget.pacing()).toEqual([]);
    budget.close();
  });
});

const state: CloudState = {
  pacing: [
    { apiClass: 'describe', paced: false, ratePerSec: null, decreases: 1 },
    { apiClass: 'interfaces', paced: true, ratePerSec: 0.25, decreases: 3 },
  ],
  subnets: [
    {
      id: 'subnet-a',
      free: 12,
      usable: 251,
      scarce: true,
      drainPerMin: 30.4,
      seenAt: new Date(50_000).toISOString(),
    },
    {
      id: 'subnet-b',
      free: 4000,
      usable: 4091,
      scarce: false,
      drainPerMin: 0,
      seenAt: new Date(58_000).toISOString(),
    },
  ],
};

describe('Prometheus series of pacing and subnets', () => {
  test('paced classes have a rate series, unpaced ones none; every subnet its free addresses and scarcity', async () => {
    const metrics = await Metrics.create({ processMetrics: false });
    const ipam: Ipam = Object.assign(new MemoryIpam(), { cloudState: () => state });
    metrics.bind(ipam);
    const text = await metrics.registry.metrics();
    expect(text).toContain('tidepool_cloud_paced{class="describe"} 0');
    expect(text).toContain('tidepool_cloud_paced{class="interfaces"} 1');
    expect(text).toContain('tidepool_cloud_pacing_rate_calls_per_second{class="interfaces"} 0.25');
    expect(text).not.toContain('tidepool_cloud_pacing_rate_calls_per_second{class="describe"}');
    expect(text).toContain('tidepool_cloud_pacing_decreases_total{class="interfaces"} 3');
    expect(text).toContain('tidepool_cloud_pacing_decreases_total{class="describe"} 1');
    expect(text).toContain('tidepool_subnet_free_addresses{subnet="subnet-a"} 12');
    expect(text).toContain('tidepool_subnet_free_addresses{subnet="subnet-b"} 4000');
    expect(text).toContain('tidepool_subnet_scarce{subnet="subnet-a"} 1');
    expect(text).toContain('tidepool_subnet_scarce{subnet="subnet-b"} 0');
    // A scrape reads the state anew: a class that recovered loses its rate series.
    state.pacing[1] = { apiClass: 'interfaces', paced: false, ratePerSec: null, decreases: 3 };
    const again = await metrics.registry.metrics();
    expect(again).not.toContain('tidepool_cloud_pacing_rate_calls_per_second{class=');
    expect(again).toContain('tidepool_cloud_paced{class="interfaces"} 0');
  });

  test('a real core: its subnet and its three unpaced classes are exported', async () => {
    node = crowdedNode(0);
    await settle(node.clock, node.core.start());
    const metrics = await Metrics.create({ processMetrics: false });
    metrics.bind(node.core);
    const text = await metrics.registry.metrics();
    const free = node.core.cloudState().subnets[0].free;
    expect(text).toContain(`tidepool_subnet_free_addresses{subnet="subnet-node"} ${free}`);
    expect(text).toContain('tidepool_subnet_scarce{subnet="subnet-node"} 0');
    for (const c of ['describe', 'addresses', 'interfaces'])
      expect(text).toContain(`tidepool_cloud_paced{class="${c}"} 0`);
  });
});

describe('tidepoolctl status: the cloud lines', () => {
  const cases: [string, Parameters<typeof renderCloud>[0], string[]][] = [
    [
      'a paced class and a scarce subnet',
      {
        pacing: [
          { apiClass: 'describe', paced: false, ratePerSec: null, decreases: 0 },
          { apiClass: 'interfaces', paced: true, ratePerSec: 0.25, decreases: 1 },
        ],
        subnets: [state.subnets[0]],
      },
      [
        'cloud: paced after throttling: interfaces at 0.25 calls/s (1 decrease)',
        '  subnet subnet-a: 12 of 251 free, falling 30/min, as the cloud said 10 s ago — SCARCE: no buffer beyond own demand, idle addresses released first',
      ],
    ],
    [
      'nothing paced, a roomy subnet',
      {
        pacing: [{ apiClass: 'addresses', paced: false, ratePerSec: null, decreases: 2 }],
        subnets: [state.subnets[1]],
      },
      [
        'cloud: no API class paced (the cloud has not throttled this node lately)',
        '  subnet subnet-b: 4000 of 4091 free, as the cloud said 2 s ago',
      ],
    ],
    ['pacing off, no subnet heard of yet', { pacing: [], subnets: [] }, ['cloud: pacing off']],
  ];
  test.each(cases)('%s', (_what, view, lines) => {
    expect(renderCloud(view, 60_000)).toEqual(lines);
  });
});
