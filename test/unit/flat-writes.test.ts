// Tables for the flat-write shaping (ipamd/engine/flat-writes.ts), on an Azure-shaped node: one NIC of
// 256 addresses (255 secondary), 256 per VM. A grow is widened by the demand of one round trip (rate ×
// round trip), within the NIC's and VM's room and max pods; a release is held until the pool has wanted
// to release for FLAT_RELEASE_HOLD_MS without a break.
import { describe, expect, test } from '@jest/globals';
import { FLAT_RELEASE_HOLD_MS, roundTripDemand, shapeFlatWrites } from '../../ipamd/engine/flat-writes.js';
import type { PlanInput, PoolAction, PoolAddress } from '../../ipamd/engine/model.js';

const NOW = 1_700_000_000_000;

function input(
  o: { held?: number; rate?: number; rttMs?: number; maxPods?: number; pd?: boolean } = {},
): PlanInput {
  const addresses: PoolAddress[] = Array.from({ length: o.held ?? 10 }, (_, i) => ({
    ip: `10.0.0.${10 + i}`,
    state: 'assigned',
  }));
  return {
    state: {
      interfaces: [
        { id: 'nic0', deviceNumber: 0, subnetId: 's', primary: true, attachedAt: 0, addresses, prefixes: [] },
      ],
    },
    demand: { parked: 0, addRatePerSec: o.rate ?? 0, roundTripMs: o.rttMs ?? 12_000 },
    targets: {
      warmEniTarget: 0,
      warmIpTarget: 5,
      minimumIpTarget: 0,
      warmPrefixTarget: 0,
      prefixDelegation: o.pd ?? false,
      cooldownMs: 0,
    },
    capacity: {
      instanceType: 'Standard_D4s_v5',
      maxInterfaces: 1,
      ipv4PerInterface: 256,
      maxPods: o.maxPods ?? 250,
      maxAddressesPerInstance: 256,
    },
    now: NOW,
    lastDecreaseAt: 0,
    coolingCountsAsAvailable: false,
  };
}

const assign = (count: number): PoolAction => ({
  kind: 'assign',
  interfaceId: 'nic0',
  count,
  unit: 'address',
});
const release = (n: number): PoolAction => ({
  kind: 'release',
  interfaceId: 'nic0',
  addresses: Array.from({ length: n }, (_, i) => `10.0.1.${i}`),
  prefixes: [],
});

describe('roundTripDemand: addresses taken during one write', () => {
  test.each([
    // rate /s, round trip ms, prefix mode, expected
    [0, 12_000, false, 0],
    [2, 12_000, false, 24],
    [0.25, 10_000, false, 3], // 2.5 → 3
    [2, 12_000, true, 2], // 24 addresses → 2 /28s
    [-1, 12_000, false, 0],
  ])('rate %p/s over %p ms (prefixes %p) → %p', (rate, rttMs, pd, want) => {
    expect(roundTripDemand(input({ rate, rttMs, pd }))).toBe(want);
  });
});

describe('grows cover one round trip', () => {
  test.each<[string, Parameters<typeof input>[0], PoolAction[], PoolAction[]]>([
    ['no learned rate: the plan as it is', { rate: 0 }, [assign(2)], [assign(2)]],
    ['2/s over 12 s: 24 more in the same PUT', { rate: 2 }, [assign(2)], [assign(26)]],
    ['no grow planned: nothing added (no write of its own)', { rate: 2 }, [], []],
    ['capped by max pods', { rate: 2, held: 20, maxPods: 30 }, [assign(2)], [assign(10)]],
    [
      'capped by the VM: 256 less the primary',
      { rate: 2, held: 240, maxPods: 257 },
      [assign(2)],
      [assign(15)],
    ],
  ])('%s', (_name, o, plan, want) => {
    expect(shapeFlatWrites(plan, input(o), undefined).actions).toEqual(want);
  });
});

describe('releases wait until the excess has lasted', () => {
  test.each<[string, number | undefined, PoolAction[], PoolAction[], number | undefined]>([
    // name, overSince before, plan, actions after, overSince after
    ['first wish to release: held, the clock starts', undefined, [release(3)], [], NOW],
    [
      'held for less than the hold',
      NOW - FLAT_RELEASE_HOLD_MS + 1,
      [release(7)],
      [],
      NOW - FLAT_RELEASE_HOLD_MS + 1,
    ],
    [
      'held for the hold: released, all of it, in one action',
      NOW - FLAT_RELEASE_HOLD_MS,
      [release(7)],
      [release(7)],
      undefined,
    ],
    ['the excess is gone (nothing to release): the clock stops', NOW - 30_000, [], [], undefined],
    ['a grow instead: the clock stops', NOW - 30_000, [assign(1)], [assign(1)], undefined],
  ])('%s', (_name, since, plan, want, sinceAfter) => {
    const out = shapeFlatWrites(plan, input(), since);
    expect(out.actions).toEqual(want);
    expect(out.overSince).toBe(sinceAfter);
  });

  test('a detach in the same plan is kept while the release waits', () => {
    const detach: PoolAction = { kind: 'detach', interfaceId: 'nic1' };
    expect(shapeFlatWrites([release(2), detach], input(), undefined).actions).toEqual([detach]);
  });
});
