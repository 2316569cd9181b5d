// Subnet scarcity mode (issue 14), as tables: when a subnet is scarce (pool/scarcity-policy.ts,
// subnet-watch.ts), what a node on it plans; and the lazy warm attach of congestion.ts.
import { describe, expect, test } from '@jest/globals';
import { LazyWarmAttach } from '../../ipamd/cloud/congestion.js';
import { planPool } from '../../ipamd/engine/plan.js';
import type {
  PoolAction,
  PoolAddress,
  PoolCapacity,
  PoolInterface,
  PoolTargets,
} from '../../ipamd/engine/model.js';
import { subnetScarce } from '../../ipamd/engine/scarcity-policy.js';
import { DRAIN_HORIZON_MS, SCARCE_HOLD_MS, SubnetWatch } from '../../ipamd/cloud/subnet-watch.js';

const NOW = 1_700_000_000_000;
const OLD = NOW - 120_000;
const m5large: PoolCapacity = {
  instanceType: 'm5.large',
  maxInterfaces: 3,
  ipv4PerInterface: 10,
  maxPods: 29,
};
const targets: PoolTargets = {
  warmEniTarget: 1,
  warmIpTarget: 0,
  minimumIpTarget: 0,
  warmPrefixTarget: 1,
  prefixDelegation: false,
  cooldownMs: 30_000,
};

function eni(
  dev: number,
  use: { free?: number; assigned?: number; cooling?: number },
  attachedAt = OLD,
): PoolInterface {
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

const scarce = (interfaces: PoolInterface[], parked: number, rate = 0, lastDecreaseAt = 0) =>
  planPool('scarce', {
    state: { interfaces },
    demand: { parked, addRatePerSec: rate, roundTripMs: 1000 },
    targets,
    capacity: m5large,
    now: NOW,
    lastDecreaseAt,
  });

const summary = (actions: PoolAction[]) =>
  actions.map((a) =>
    a.kind === 'release'
      ? `release ${a.interfaceId} ${a.addresses.length + a.prefixes.length}`
      : a.kind === 'detach'
        ? `detach ${a.interfaceId}`
        : a.kind === 'assign'
          ? `assign ${a.interfaceId} ${a.count}`
          : `attach ${a.deviceNumber} ${a.count}`,
  );

describe('is a subnet scarce', () => {
  const cases: [number, number, number, boolean][] = [
    [100, 4091, 10, true], // 2.4% free
    [409, 4091, 10, true],
    [410, 4091, 10, false], // just 10%
    [3000, 4091, 10, false],
    [0, 4091, 0, false], // the mode is off
  ];
  test.each(cases)('%d free of %d at %d%%: %s', (free, usable, percent, expected) => {
    expect(subnetScarce(free, usable, percent)).toBe(expected);
  });
});

describe('what a node plans while its subnet is scarce', () => {
  const cases: [string, PoolInterface[], number, number, string[]][] = [
    // [what, interfaces, parked, learned rate, plan]
    [
      'the warm buffer goes back to the subnet',
      [eni(0, { assigned: 3, free: 6 })],
      0,
      0,
      ['release eni-0 6'],
    ],
    [
      'only what its own demand needs is kept (2/s × 2 s = 4)',
      [eni(0, { assigned: 3, free: 6 })],
      0,
      2,
      ['release eni-0 2'],
    ],
    [
      'cooling addresses stay until their cooldown ends',
      [eni(0, { assigned: 3, cooling: 4, free: 2 })],
      0,
      0,
      ['release eni-0 2'],
    ],
    [
      'an interface left with nothing is detached (its primary address too)',
      [eni(0, { assigned: 5, free: 4 }), eni(1, { free: 9 })],
      0,
      0,
      ['release eni-0 4', 'detach eni-1'],
    ],
    ['growth only for the requests waiting now, no buffer', [eni(0, { assigned: 9 })], 3, 5, ['attach 1 3']],
    [
      'waiting requests that free addresses serve: nothing to do',
      [eni(0, { assigned: 3, free: 6 })],
      4,
      0,
      [],
    ],
    ['nothing idle: nothing to do', [eni(0, { assigned: 9 })], 0, 0, []],
  ];
  test.each(cases)('%s', (_what, interfaces, parked, rate, plan) => {
    expect(summary(scarce(interfaces, parked, rate))).toEqual(plan);
  });

  test('releases come at a short gap (5 s), not the 30 s one', () => {
    const pool = [eni(0, { assigned: 3, free: 6 })];
    expect(scarce(pool, 0, 0, NOW - 3_000)).toEqual([]);
    expect(summary(scarce(pool, 0, 0, NOW - 6_000))).toEqual(['release eni-0 6']);
  });

  test('a new interface is not detached in its first minute', () => {
    expect(summary(scarce([eni(0, { assigned: 9 }), eni(1, { free: 9 }, NOW - 10_000)], 0, 0))).toEqual([
      'release eni-1 9',
    ]);
  });
});

describe('the subnet watch: what the cloud says of a subnet', () => {
  const subnet = (free: number) => [{ id: 'subnet-a', cidr: '10.0.0.0/20', freeAddresses: free }]; // 4091 usable
  const cases: [string, [number, number][], number, boolean][] = [
    // [what, answers (ms, free), asked at (ms), scarce]
    [
      'plenty free, steady',
      [
        [0, 3000],
        [60_000, 3000],
      ],
      60_000,
      false,
    ],
    ['under 10% free', [[0, 300]], 0, true],
    [
      'draining fast: would be gone within 2 minutes',
      [
        [0, 3000],
        [10_000, 2500],
      ],
      10_000,
      true,
    ],
    [
      'draining slowly: would last',
      [
        [0, 3000],
        [60_000, 2990],
      ],
      60_000,
      false,
    ],
    [
      'once scarce, it stays so for the hold time',
      [
        [0, 300],
        [10_000, 600],
      ],
      SCARCE_HOLD_MS - 1,
      true,
    ],
    [
      'the hold ends',
      [
        [0, 300],
        [10_000, 600],
      ],
      SCARCE_HOLD_MS + 1,
      false,
    ],
    [
      'twice the threshold free ends it at once',
      [
        [0, 300],
        [10_000, 900],
      ],
      10_000,
      false,
    ],
  ];
  test.each(cases)('%s', (_what, answers, at, expected) => {
    const w = new SubnetWatch(10);
    for (const [t, free] of answers) w.observe(subnet(free), NOW + t);
    expect(w.scarce(['subnet-a'], NOW + at)).toBe(expected);
  });

  test('a subnet-full answer makes it scarce; an unknown subnet is not', () => {
    const w = new SubnetWatch(10);
    w.full('subnet-a', NOW);
    expect(w.scarce(['subnet-a'], NOW)).toBe(true);
    expect(w.scarce(['subnet-b'], NOW)).toBe(false);
  });

  test('the mode off (0 %) never reports scarcity', () => {
    const w = new SubnetWatch(0);
    w.full('subnet-a', NOW);
    expect(w.scarce(['subnet-a'], NOW)).toBe(false);
  });

  const polls: [string, [number, number][], number][] = [
    // [what, answers (ms, free), next poll (ms)]
    ['one answer: the drain is not known yet, ask again in 30 s', [[0, 3000]], 30_000],
    [
      'no drain: every 5 minutes',
      [
        [0, 3000],
        [60_000, 3000],
      ],
      300_000,
    ],
    [
      'slow drain: a quarter of the time to scarcity',
      [
        [0, 3000],
        [100_000, 2900],
      ],
      300_000,
    ],
    [
      'fast drain (5/s), far from scarcity: a quarter of (3700 − 600) / 5 s',
      [
        [0, 4000],
        [60_000, 3700],
      ],
      155_000,
    ],
    [
      'fast drain: at the 10 s floor',
      [
        [0, 3000],
        [10_000, 2800],
      ],
      10_000,
    ],
    ['scarce: every 30 s', [[0, 300]], 30_000],
  ];
  test.each(polls)('polling: %s', (_what, answers, next) => {
    const w = new SubnetWatch(10);
    for (const [t, free] of answers) w.observe(subnet(free), NOW + t);
    const last = answers[answers.length - 1][0];
    expect(w.nextPollMs(['subnet-a'], NOW + last)).toBeCloseTo(next, -3);
  });

  test('the drain horizon is two minutes', () => {
    expect(DRAIN_HORIZON_MS).toBe(120_000);
  });
});

describe('lazy warm attach', () => {
  const attach: PoolAction = { kind: 'attach', deviceNumber: 1, count: 9, unit: 'address' };
  const assign: PoolAction = { kind: 'assign', interfaceId: 'eni-0', count: 2, unit: 'address' };
  const cases: [string, number | null, number, PoolAction[], PoolAction[]][] = [
    // [what, last parked at (ms, null = never), parked now, plan, what goes]
    ['steady state (nothing ever parked): the attach goes', null, 0, [attach], [attach]],
    ['requests parked now: everything goes', 0, 3, [attach, assign], [attach, assign]],
    ['30 s after a burst was served: the warm attach waits, top-ups go', 0, 0, [attach, assign], [assign]],
    ['60 s after: the attach goes', 0, 0, [attach], [attach]],
  ];
  test.each(cases)('%s', (what, lastParked, parked, plan, expected) => {
    const lazy = new LazyWarmAttach();
    if (lastParked !== null) lazy.filter([], 1, NOW + lastParked);
    const at = what.startsWith('30 s') ? 30_000 : what.startsWith('60 s') ? 60_000 : 0;
    expect(lazy.filter(plan, parked, NOW + at)).toEqual(expected);
  });
});
