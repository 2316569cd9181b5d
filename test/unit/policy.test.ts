// Table-driven tests of the pool engine with worked numbers from the reference
// (aws-vpc-cni.md 2.3, 3.3-3.5, 3.10). m5.large: 3 ENIs × 10 IPv4 → 9 secondary slots per ENI,
// max pods 29 (secondary IPs) or 110 (prefixes: 3 × 9 × 16 + 2 = 434, capped at 110 for 2 vCPUs).
import { describe, expect, test } from '@jest/globals';
import { planPool, type PolicyName } from '../../ipamd/engine/plan.js';
import type {
  PoolAction,
  PoolAddress,
  PoolCapacity,
  PoolInterface,
  PoolTargets,
} from '../../ipamd/engine/model.js';
import { poolStats } from '../../ipamd/engine/stats.js';
import { adaptiveTarget } from '../../ipamd/engine/adaptive-policy.js';
import { BurstWindow, RecentEvents } from '../../ipamd/engine/demand.js';

const NOW = 1_700_000_000_000;
const OLD = NOW - 120_000; // attached two minutes ago: past the 60 s minimum life
const LONG_AGO = 0; // last decrease: long ago, so the 30 s gap allows one

const m5large: PoolCapacity = {
  instanceType: 'm5.large',
  maxInterfaces: 3,
  ipv4PerInterface: 10,
  maxPods: 29,
};
const m5largePD: PoolCapacity = { ...m5large, maxPods: 110 };

const defaults: PoolTargets = {
  warmEniTarget: 1,
  warmIpTarget: 0,
  minimumIpTarget: 0,
  warmPrefixTarget: 1,
  prefixDelegation: false,
  cooldownMs: 30_000,
};

interface Use {
  free?: number;
  assigned?: number;
  cooling?: number;
}

/** An interface with `free`, `assigned` and `cooling` secondary addresses. */
function eni(dev: number, use: Use = {}, attachedAt = OLD): PoolInterface {
  const addresses: PoolAddress[] = [];
  let n = 10;
  const add = (state: PoolAddress['state'], count = 0) => {
    for (let i = 0; i < count; i++)
      addresses.push({
        ip: `10.0.${dev}.${n++}`,
        state,
        coolingUntil: state === 'cooling' ? NOW + 10_000 : undefined,
      });
  };
  add('assigned', use.assigned);
  add('cooling', use.cooling);
  add('free', use.free);
  return {
    id: `eni-${dev}`,
    deviceNumber: dev,
    subnetId: 'subnet-a',
    primary: dev === 0,
    attachedAt,
    addresses,
    prefixes: [],
  };
}

/** An interface with /28 prefixes, each given as the number of its addresses in use. */
function pdEni(dev: number, prefixesInUse: number[], attachedAt = OLD): PoolInterface {
  const i = eni(dev, {}, attachedAt);
  prefixesInUse.forEach((used, p) => {
    const prefix = `10.${dev}.${p}.0/28`;
    i.prefixes.push(prefix);
    for (let k = 0; k < 16; k++)
      i.addresses.push({ ip: `10.${dev}.${p}.${k}`, state: k < used ? 'assigned' : 'free', prefix });
  });
  return i;
}

interface Case {
  name: string;
  interfaces: PoolInterface[];
  targets?: Partial<PoolTargets>;
  capacity?: PoolCapacity;
  parked?: number;
  lastDecreaseAt?: number;
  policy?: PolicyName;
  expect: PoolAction[];
}

function plan(c: Case): PoolAction[] {
  return planPool(c.policy ?? 'aws-compatible', {
    state: { interfaces: c.interfaces },
    demand: { parked: c.parked ?? 0, addRatePerSec: 0, roundTripMs: 1000 },
    targets: { ...defaults, ...c.targets },
    capacity: c.capacity ?? m5large,
    now: NOW,
    lastDecreaseAt: c.lastDecreaseAt ?? LONG_AGO,
  });
}

const assign = (interfaceId: string, count: number, unit: 'address' | 'prefix' = 'address'): PoolAction => ({
  kind: 'assign',
  interfaceId,
  count,
  unit,
});
const attach = (deviceNumber: number, count: number, unit: 'address' | 'prefix' = 'address'): PoolAction => ({
  kind: 'attach',
  deviceNumber,
  count,
  unit,
});

describe('aws-compatible, WARM_ENI_TARGET=1 on m5.large (maxIPsPerENI = 10 − 1 = 9)', () => {
  test.each<Case>([
    {
      name: 'empty primary ENI: available 0 < 9 × 1 → fill the primary with 9',
      interfaces: [eni(0)],
      expect: [assign('eni-0', 9)],
    },
    {
      name: 'primary holds 9 free: available 9 is not < 9 → nothing',
      interfaces: [eni(0, { free: 9 })],
      expect: [],
    },
    {
      name: 'primary full and all in use: no room on it → attach one ENI with 9',
      interfaces: [eni(0, { assigned: 9 })],
      expect: [attach(1, 9)],
    },
    {
      name: 'an existing ENI with room is filled before any attach (6 more on eni-1)',
      interfaces: [eni(0, { assigned: 9 }), eni(1, { free: 3 })],
      expect: [assign('eni-1', 6)],
    },
    {
      name: 'available 18 ≥ (1 + 1) × 9 → free one idle ENI, the highest device first',
      interfaces: [eni(0, { assigned: 9 }), eni(1, { free: 9 }), eni(2, { free: 9 })],
      expect: [{ kind: 'detach', interfaceId: 'eni-2' }],
    },
    {
      name: 'an ENI younger than 60 s is not freed (the older one is)',
      interfaces: [eni(0, { assigned: 9 }), eni(1, { free: 9 }), eni(2, { free: 9 }, NOW - 30_000)],
      expect: [{ kind: 'detach', interfaceId: 'eni-1' }],
    },
    {
      name: 'an ENI with a cooling address or a pod is not freed',
      interfaces: [
        eni(0, { assigned: 9 }),
        eni(1, { free: 8, assigned: 1 }),
        eni(2, { free: 8, cooling: 1 }),
      ],
      expect: [],
    },
    {
      name: 'pure WARM_ENI mode never releases single addresses',
      interfaces: [eni(0, { free: 9 }), eni(1, { free: 5 }, NOW - 1000)],
      expect: [],
    },
  ])('$name', (c) => expect(plan(c)).toEqual(c.expect));
});

describe('aws-compatible, WARM_IP_TARGET=5 + MINIMUM_IP_TARGET=10 (they take precedence over WARM_ENI)', () => {
  const targets = { warmIpTarget: 5, minimumIpTarget: 10 };
  test.each<Case>([
    {
      name: 'empty: short = max(5 − 0, 10 − 0) = 10 → fill the primary with min(9, 10) = 9',
      interfaces: [eni(0)],
      targets,
      expect: [assign('eni-0', 9)],
    },
    {
      name: 'total 9: short = max(5 − 9, 10 − 9) = 1 → primary full → attach an ENI with 1',
      interfaces: [eni(0, { free: 9 })],
      targets,
      expect: [attach(1, 1)],
    },
    {
      name: 'total 10, 10 free: over = min(10 − 5, 10 − 10) = 0 → stable',
      interfaces: [eni(0, { free: 9 }), eni(1, { free: 1 })],
      targets,
      expect: [],
    },
    {
      name: '8 pods on 10 addresses: short = 5 − 2 = 3 → 3 more on eni-1',
      interfaces: [eni(0, { assigned: 8, free: 1 }), eni(1, { free: 1 })],
      targets,
      expect: [assign('eni-1', 3)],
    },
    {
      name: '3 pods on 18: over = min(15 − 5, 18 − 10) = 8 → release 8 from the least used ENI',
      interfaces: [eni(0, { assigned: 3, free: 6 }), eni(1, { free: 9 })],
      targets,
      expect: [
        {
          kind: 'release',
          interfaceId: 'eni-1',
          addresses: [
            '10.0.1.10',
            '10.0.1.11',
            '10.0.1.12',
            '10.0.1.13',
            '10.0.1.14',
            '10.0.1.15',
            '10.0.1.16',
            '10.0.1.17',
          ],
          prefixes: [],
        },
      ],
    },
    {
      name: 'the same pool within 30 s of the last decrease releases nothing',
      interfaces: [eni(0, { assigned: 3, free: 6 }), eni(1, { free: 9 })],
      targets,
      lastDecreaseAt: NOW - 10_000,
      expect: [],
    },
    {
      name: 'MINIMUM_IP_TARGET alone (WARM_IP 0): the pool never grows past the minimum',
      interfaces: [eni(0, { assigned: 9 }), eni(1, { assigned: 1 })],
      targets: { minimumIpTarget: 10 },
      expect: [],
    },
  ])('$name', (c) => expect(plan(c)).toEqual(c.expect));
});

describe('aws-compatible, prefix delegation (a /28 per slot, 9 prefixes per ENI on m5.large)', () => {
  const pd = { prefixDelegation: true };
  test.each<Case>([
    {
      name: 'WARM_PREFIX_TARGET=1, empty: available 0 < 16 → one prefix on the primary',
      interfaces: [pdEni(0, [])],
      targets: { ...pd, warmPrefixTarget: 1 },
      capacity: m5largePD,
      expect: [assign('eni-0', 1, 'prefix')],
    },
    {
      name: 'WARM_PREFIX_TARGET=1, one prefix with 3 pods: 13 available < 16 → one more prefix',
      interfaces: [pdEni(0, [3])],
      targets: { ...pd, warmPrefixTarget: 1 },
      capacity: m5largePD,
      expect: [assign('eni-0', 1, 'prefix')],
    },
    {
      name: 'WARM_PREFIX_TARGET=1 with two free prefixes: 2 > 1 → release one prefix',
      interfaces: [pdEni(0, [0, 0])],
      targets: { ...pd, warmPrefixTarget: 1 },
      capacity: m5largePD,
      expect: [{ kind: 'release', interfaceId: 'eni-0', addresses: [], prefixes: ['10.0.0.0/28'] }],
    },
    {
      name: 'MINIMUM_IP_TARGET=20 rounds up to whole prefixes: ceil(20/16) = 2 prefixes = 32 addresses',
      interfaces: [pdEni(0, [])],
      targets: { ...pd, minimumIpTarget: 20, warmPrefixTarget: 0 },
      capacity: m5largePD,
      expect: [assign('eni-0', 2, 'prefix')],
    },
    {
      name: 'MINIMUM_IP_TARGET=20 holding 32: neither short nor over → stable at 32',
      interfaces: [pdEni(0, [0, 0])],
      targets: { ...pd, minimumIpTarget: 20, warmPrefixTarget: 0 },
      capacity: m5largePD,
      expect: [],
    },
    {
      name: 'maxPods cap: 112 addresses ≥ max pods 110 → no growth though only 12 are free',
      interfaces: [pdEni(0, [16, 16, 16, 16, 16, 16, 4])],
      targets: { ...pd, warmPrefixTarget: 1 },
      capacity: m5largePD,
      expect: [],
    },
    {
      name: 'below the cap (96 < 110) the same pool still grows by one prefix',
      interfaces: [pdEni(0, [16, 16, 16, 16, 16, 16])],
      targets: { ...pd, warmPrefixTarget: 1 },
      capacity: m5largePD,
      expect: [assign('eni-0', 1, 'prefix')],
    },
  ])('$name', (c) => expect(plan(c)).toEqual(c.expect));

  test('max pods for m5.large with prefixes is capped at 110 (2 vCPUs ≤ 30)', async () => {
    const { maxPods } = await import('../../providers/capacity.js');
    const { instanceLimits } = await import('../../providers/capacity.js');
    expect(maxPods(instanceLimits('m5.large'), { prefixDelegation: true })).toBe(110);
    expect(maxPods(instanceLimits('m5.large'), { prefixDelegation: false })).toBe(29);
  });
});

describe('aws-compatible, MAX_ENI=2 (capacity.maxInterfaces = min(3, 2))', () => {
  const maxEni2 = { ...m5large, maxInterfaces: 2 };
  test.each<Case>([
    {
      name: 'both allowed ENIs full and in use: no attach beyond MAX_ENI',
      interfaces: [eni(0, { assigned: 9 }), eni(1, { assigned: 9 })],
      capacity: maxEni2,
      expect: [],
    },
    {
      name: 'with one ENI in use, the second may still be attached',
      interfaces: [eni(0, { assigned: 9 })],
      capacity: maxEni2,
      expect: [attach(1, 9)],
    },
  ])('$name', (c) => expect(plan(c)).toEqual(c.expect));
});

describe('cooling addresses are not available (Tidepool) but are for the incumbent', () => {
  // 5 pods, 4 addresses cooling, 0 free. WARM_IP_TARGET=2.
  const pool = () => [eni(0, { assigned: 5, cooling: 4 })];
  const targets = { warmIpTarget: 2 };

  test('stats: available counts only free, non-cooling addresses', () => {
    const s = poolStats({
      state: { interfaces: pool() },
      demand: { parked: 0, addRatePerSec: 0, roundTripMs: 0 },
      targets: { ...defaults, ...targets },
      capacity: m5large,
      now: NOW,
      lastDecreaseAt: 0,
      coolingCountsAsAvailable: false,
    });
    expect(s).toMatchObject({ total: 9, assigned: 5, cooling: 4, free: 0, available: 0 });
  });

  test('Tidepool grows the pool when every free address is cooling (short = 2 − 0 → attach 2)', () => {
    expect(plan({ name: '', interfaces: pool(), targets, expect: [] })).toEqual([attach(1, 2)]);
  });

  test('the incumbent counts the 4 cooling addresses as available: no growth (it even sees 2 too many)', () => {
    const actions = plan({ name: '', interfaces: pool(), targets, policy: 'incumbent', expect: [] });
    expect(actions.filter((a) => a.kind === 'assign' || a.kind === 'attach')).toEqual([]);
    // available = 9 − 5 = 4, over = min(4 − 2, 9 − 0) = 2
    expect(actions).toEqual([
      { kind: 'release', interfaceId: 'eni-0', addresses: ['10.0.0.15', '10.0.0.16'], prefixes: [] },
    ]);
  });

  test('a cooling address past its release time is free again', () => {
    const i = eni(0, { assigned: 5, cooling: 4 });
    for (const a of i.addresses) if (a.state === 'cooling') a.coolingUntil = NOW - 1;
    // 4 free now: no growth; over = min(4 − 2, 9) = 2 of them go back to the cloud.
    expect(plan({ name: '', interfaces: [i], targets, expect: [] })).toEqual([
      { kind: 'release', interfaceId: 'eni-0', addresses: ['10.0.0.15', '10.0.0.16'], prefixes: [] },
    ]);
  });
});

describe('parked requests count as demand', () => {
  test('WARM_IP_TARGET=5 with 3 free and 10 parked: short = 5 − (3 − 10) = 12 → min(9, 12) on the empty eni-1', () => {
    const c: Case = {
      name: '',
      interfaces: [eni(0, { assigned: 6, free: 3 }), eni(1, {})],
      targets: { warmIpTarget: 5 },
      parked: 10,
      expect: [],
    };
    expect(plan(c)).toEqual([assign('eni-1', 9)]);
  });

  test('prefix mode: 20 parked on an empty pool with WARM_PREFIX_TARGET=1 → 3 prefixes in one call', () => {
    expect(
      plan({
        name: '',
        interfaces: [pdEni(0, [])],
        targets: { prefixDelegation: true, warmPrefixTarget: 1 },
        capacity: m5largePD,
        parked: 20,
        expect: [],
      }),
    ).toEqual([assign('eni-0', 3, 'prefix')]);
  });

  test('no interface is freed while requests are parked', () => {
    expect(
      plan({
        name: '',
        interfaces: [eni(0, { assigned: 9 }), eni(1, { free: 9 }), eni(2, { free: 9 })],
        parked: 1,
        expect: [],
      }),
    ).toEqual([]);
  });
});

describe('adaptive', () => {
  const adaptive = (interfaces: PoolInterface[], parked: number, rate: number, lastDecreaseAt = LONG_AGO) =>
    planPool('adaptive', {
      state: { interfaces },
      demand: { parked, addRatePerSec: rate, roundTripMs: 1000 },
      targets: defaults,
      capacity: m5large,
      now: NOW,
      lastDecreaseAt,
    });

  test('grows at once for every parked request; new interfaces only for what they lack', () => {
    // target = the prior of 10 free; 20 parked + 13 (target × 1.3), capped at max pods 29: 9 on the
    // primary, then new interfaces for the 20 parked only (9 + 2); the buffer's share is not attached.
    expect(adaptive([eni(0)], 20, 0)).toEqual([assign('eni-0', 9), attach(1, 9), attach(2, 2)]);
  });

  test('provisions max(learned rate over the next round trip, the prior of 10), 30% over', () => {
    // 4/s × (1 s + 1 s lookahead) = 8 < the prior 10: grow to 13 free: 7 on the primary, 4 on a new one.
    expect(adaptive([eni(0, { free: 2 })], 0, 4)).toEqual([assign('eni-0', 7), attach(1, 4)]);
    // 10/s × 2 s = 20: grow to 26 free.
    expect(adaptive([eni(0, { free: 2 })], 0, 10)).toEqual([assign('eni-0', 7), attach(1, 9), attach(2, 8)]);
  });

  test('three quarters of the cooling addresses count toward the buffer when nothing is parked, none when something is', () => {
    // 7 free + 4 cooling: 7 + 3 ≥ target 10: nothing to do (with half, 7 + 2 would have grown).
    expect(adaptive([eni(0, { free: 4, cooling: 4 }), eni(1, { free: 3 })], 0, 0)).toEqual([]);
    // One parked: cooling does not count; 13 + 1 − 7 = 7 more.
    expect(adaptive([eni(0, { free: 4, cooling: 4 }), eni(1, { free: 3 })], 1, 0)).toEqual([
      assign('eni-0', 1),
      assign('eni-1', 6),
    ]);
  });

  test.each([
    // a burst of the last 30 s (an HPA step) → free wanted: twice it (the next step may double), else the prior
    [0, 10],
    [4, 10],
    [6, 12],
    [9, 18],
  ])('a recent burst of %i keeps %i free', (recentBurst, target) => {
    const input = {
      state: { interfaces: [eni(0)] },
      demand: { parked: 0, addRatePerSec: 0, roundTripMs: 1000, recentBurst },
      targets: defaults,
      capacity: m5large,
      now: NOW,
      lastDecreaseAt: LONG_AGO,
      coolingCountsAsAvailable: false,
    };
    expect(adaptiveTarget(input)).toBe(target);
  });

  test('hysteresis: up to 2 × target free is kept; beyond, it shrinks to the target', () => {
    expect(adaptive([eni(0, { free: 9 }), eni(1, { free: 9 })], 0, 0)).toEqual([]);
    const shrink = adaptive([eni(0, { free: 9 }), eni(1, { free: 9 }), eni(2, { free: 9 })], 0, 0);
    // 27 free > 20: an idle interface is detached (9), and 8 more released, down to 10.
    expect(shrink.map((a) => a.kind).sort()).toEqual(['detach', 'release']);
    const released = shrink.find((a) => a.kind === 'release') as { addresses: string[] };
    expect(released.addresses).toHaveLength(8);
  });

  test('shrink waits for the 2 min adaptive gap', () => {
    const three = [eni(0, { free: 9 }), eni(1, { free: 9 }), eni(2, { free: 9 })];
    expect(adaptive(three, 0, 0, NOW - 100_000).filter((a) => a.kind === 'release')).toEqual([]);
    expect(adaptive(three, 0, 0, NOW - 121_000).filter((a) => a.kind === 'release')).toHaveLength(1);
  });

  test('an idle old secondary interface is detached rather than drained', () => {
    expect(
      adaptive([eni(0, { free: 9, assigned: 2 }), eni(1, { free: 9 }), eni(2, { free: 5 })], 0, 0),
    ).toEqual([
      { kind: 'release', interfaceId: 'eni-1', addresses: expect.any(Array), prefixes: [] },
      { kind: 'detach', interfaceId: 'eni-2' },
    ]);
  });

  test('a burst seen within one round trip in the last 15 minutes is kept ready, 30% over', () => {
    const plan = planPool('adaptive', {
      state: { interfaces: [eni(0, { free: 2 })] },
      demand: { parked: 0, addRatePerSec: 0, roundTripMs: 1000, burstPeak: 12 },
      targets: defaults,
      capacity: m5large,
      now: NOW,
      lastDecreaseAt: LONG_AGO,
    });
    // ceil(12 × 1.3) = 16 free: 7 more on the primary, 7 on a new interface.
    expect(plan).toEqual([assign('eni-0', 7), attach(1, 7)]);
  });
});

describe('burst window', () => {
  test('remembers the most requests seen within one window, for the hold period only', () => {
    const w = new BurstWindow();
    for (let i = 0; i < 6; i++) w.record(NOW + i * 100, 2_000); // 6 within 0.5 s
    w.record(NOW + 10_000, 2_000); // a lone one later
    expect(w.peak(NOW + 10_000)).toBe(6);
    expect(w.peak(NOW + 899_000)).toBe(6);
    expect(w.peak(NOW + 901_000)).toBe(1); // the burst is forgotten; the lone request still counts
    expect(w.peak(NOW + 911_000)).toBe(0);
  });

  test.each([
    // the largest burst of the last 30 s, asked at: (the 6 end at NOW + 500, the lone one at NOW + 10 s)
    [NOW + 1_000, 6],
    [NOW + 30_400, 6],
    [NOW + 30_600, 1],
    [NOW + 40_100, 0],
  ])('recentPeak(30 s) at %i is %i, and the 15-minute peak is kept', (at, peak) => {
    const w = new BurstWindow();
    for (let i = 0; i < 6; i++) w.record(NOW + i * 100, 2_000);
    w.record(NOW + 10_000, 2_000);
    expect(w.recentPeak(at, 30_000)).toBe(peak);
    expect(w.peak(at)).toBe(6);
  });
});

describe('recent events: the rate over the last window, as of the moment asked', () => {
  test.each([
    // 9 events at 2/s from NOW (the last at NOW + 4 s); asked at, window, expected rate /s
    [NOW + 4_000, 10_000, 0.9], // the whole window counts, never only the span seen
    [NOW + 4_000, 2_000, 2], // NOW + 2.5 s .. NOW + 4 s: 4 events in 2 s
    [NOW + 12_000, 10_000, 0.4], // four left in the window (NOW + 2.5 s .. NOW + 4 s)
    [NOW + 14_000, 10_000, 0], // all older than the window
    [NOW + 4_000, 0, 0], // an empty window has no rate
  ])('at %i over %i ms: %p/s', (at, windowMs, want) => {
    const r = new RecentEvents(60_000);
    for (let i = 0; i < 9; i++) r.record(NOW + i * 500);
    expect(r.ratePerSec(at, windowMs)).toBeCloseTo(want, 6);
  });

  test('forgets what is older than its keep period', () => {
    const r = new RecentEvents(1_000);
    r.record(NOW);
    r.record(NOW + 2_000);
    expect(r.ratePerSec(NOW + 2_000, 60_000)).toBeCloseTo(1 / 60, 6);
  });

  test('counts the same across its compactions (thousands of events, a second kept)', () => {
    const r = new RecentEvents(1_000);
    for (let i = 0; i < 5_000; i++) {
      r.record(NOW + i * 10); // 100/s
      if (i >= 100) expect(r.count(NOW + i * 10, 1_000)).toBe(100);
    }
  });
});
