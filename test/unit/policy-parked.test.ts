// The aws-compatible policy with parked requests that one incumbent step cannot serve (parked-growth.ts):
// one round plans every top-up and attach they need. m5.large: 3 ENIs × 10 IPv4 → 9 slots per ENI.
import { describe, expect, test } from '@jest/globals';
import { planPool, type PolicyName } from '../../ipamd/engine/plan.js';
import type { PoolAction, PoolCapacity, PoolInterface, PoolTargets } from '../../ipamd/engine/model.js';

const NOW = 1_700_000_000_000;
const OLD = NOW - 120_000;
const m5large: PoolCapacity = {
  instanceType: 'm5.large',
  maxInterfaces: 3,
  ipv4PerInterface: 10,
  maxPods: 29,
};
const defaults: PoolTargets = {
  warmEniTarget: 1,
  warmIpTarget: 0,
  minimumIpTarget: 0,
  warmPrefixTarget: 1,
  prefixDelegation: false,
  cooldownMs: 30_000,
};

/** An interface with `assigned` addresses in use and `free` free ones. */
function eni(dev: number, assigned = 0, free = 0): PoolInterface {
  const addresses = [
    ...Array.from({ length: assigned }, (_, i) => ({
      ip: `10.0.${dev}.${10 + i}`,
      state: 'assigned' as const,
    })),
    ...Array.from({ length: free }, (_, i) => ({ ip: `10.0.${dev}.${100 + i}`, state: 'free' as const })),
  ];
  return {
    id: `eni-${dev}`,
    deviceNumber: dev,
    subnetId: 'subnet-a',
    primary: dev === 0,
    attachedAt: OLD,
    addresses,
    prefixes: [],
  };
}

/** An interface whose `full` /28 prefixes are all in use. */
function fullPdEni(dev: number, full: number): PoolInterface {
  const i = eni(dev);
  for (let p = 0; p < full; p++) {
    const prefix = `10.${dev}.${p}.0/28`;
    i.prefixes.push(prefix);
    for (let k = 0; k < 16; k++) i.addresses.push({ ip: `10.${dev}.${p}.${k}`, state: 'assigned', prefix });
  }
  return i;
}

function plan(
  interfaces: PoolInterface[],
  parked: number,
  opts: { targets?: Partial<PoolTargets>; capacity?: Partial<PoolCapacity>; policy?: PolicyName } = {},
): PoolAction[] {
  return planPool(opts.policy ?? 'aws-compatible', {
    state: { interfaces },
    demand: { parked, addRatePerSec: 0, roundTripMs: 1000 },
    targets: { ...defaults, ...opts.targets },
    capacity: { ...m5large, ...opts.capacity },
    now: NOW,
    lastDecreaseAt: 0,
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

describe('parked demand beyond one step: every step in one round', () => {
  test('primary full, 12 parked: one attach of 9 would leave 3 waiting → two attaches at once', () => {
    expect(plan([eni(0, 9)], 12)).toEqual([attach(1, 9), attach(2, 9)]);
  });

  test('the existing interface is topped up (whole, WARM_ENI_TARGET) and the rest attached in the same round', () => {
    expect(plan([eni(0, 4)], 12)).toEqual([assign('eni-0', 5), attach(1, 9)]);
  });

  test('WARM_IP_TARGET=2 with 15 parked on an empty primary: 17 units, 9 on the primary and 8 inline', () => {
    expect(plan([eni(0)], 15, { targets: { warmIpTarget: 2 } })).toEqual([assign('eni-0', 9), attach(1, 8)]);
  });

  test('device numbers are distinct and skip those in use', () => {
    expect(plan([eni(0, 9), eni(2, 9)], 15, { capacity: { maxInterfaces: 4, maxPods: 60 } })).toEqual([
      attach(1, 9),
      attach(3, 9),
    ]);
  });

  test('MAX_ENI: no more interfaces than the node may use', () => {
    expect(plan([eni(0, 9)], 20, { capacity: { maxInterfaces: 2 } })).toEqual([attach(1, 9)]);
  });

  test('max pods: no more addresses than the node may hold', () => {
    // 9 held, max pods 20: room for 11, so 9 + 2 however many are parked.
    expect(plan([eni(0, 9)], 20, { capacity: { maxPods: 20 } })).toEqual([attach(1, 9), attach(2, 2)]);
  });

  test('prefix mode: 200 parked beyond a full primary → 14 prefixes over two new interfaces', () => {
    // WARM_PREFIX_TARGET=1: 1 + ceil(200 / 16) = 14 prefixes, 9 per interface.
    expect(
      plan([fullPdEni(0, 9)], 200, {
        targets: { prefixDelegation: true },
        capacity: { maxPods: 434 },
      }),
    ).toEqual([attach(1, 9, 'prefix'), attach(2, 5, 'prefix')]);
  });

  test('one step enough: the incumbent formula alone (3 free, 8 parked, the top-up of 6 covers the 5 missing)', () => {
    expect(plan([eni(0, 0, 3)], 8)).toEqual([assign('eni-0', 6)]);
  });

  test('a top-up too small for the parked requests: the attach comes in the same round', () => {
    expect(plan([eni(0, 0, 3)], 12)).toEqual([assign('eni-0', 6), attach(1, 9)]);
  });

  test('no parked demand: the warm target still grows one interface per round', () => {
    expect(plan([eni(0, 9)], 0)).toEqual([attach(1, 9)]);
  });

  test('comparison mode: parked requests are not demand, one batch per tick', () => {
    expect(plan([eni(0, 9)], 12, { policy: 'incumbent' })).toEqual([attach(1, 9)]);
  });
});
