// Tables for the flat-write shaping (ipamd/engine/flat-writes.ts), on an Azure-shaped node: one NIC of
// 256 addresses (255 secondary), 256 per VM. A grow is widened by the demand of one round trip (rate ×
// round trip), within the NIC's and VM's room and max pods; a release is held until the pool has wanted
// to release for FLAT_RELEASE_HOLD_MS without a break.
import { describe, expect, test } from '@jest/globals';
import {
  FLAT_RELEASE_HOLD_MS,
  FLAT_RELEASE_QUIET_MS,
  roundTripDemand,
  shapeFlatWrites,
  type FlatWriteState,
} from '../../ipamd/engine/flat-writes.js';
import type { PlanInput, PoolAction, PoolAddress } from '../../ipamd/engine/model.js';

const NOW = 1_700_000_000_000;

function input(
  o: {
    held?: number;
    rate?: number;
    releases?: number;
    recent?: number;
    recentReleases?: number;
    rttMs?: number;
    maxPods?: number;
    pd?: boolean;
  } = {},
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
    demand: {
      parked: 0,
      addRatePerSec: o.rate ?? 0,
      releaseRatePerSec: o.releases ?? 0,
      recentAddRatePerSec: o.recent,
      recentReleaseRatePerSec: o.recentReleases,
      roundTripMs: o.rttMs ?? 12_000,
    },
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

  test.each([
    // adds /s, releases /s, expected: pods leaving free addresses newcomers take (net demand)
    [2, 2, 0],
    [2, 1.5, 6],
    [1, 3, 0],
  ])('adds %p/s, releases %p/s over 12 s → %p', (rate, releases, want) => {
    expect(roundTripDemand(input({ rate, releases }))).toBe(want);
  });

  test.each([
    // decaying adds, last window's adds, decaying releases, last window's releases (/s), expected over 12 s
    [0.3, 0.9, 0, 0, 11], // a burst just begun: the window's rate, not the lagging estimate (10.8 → 11)
    [2, 0.5, 0, 0, 24], // a burst just over: the estimate still remembers it
    [1, 2, 1, 2, 0], // steady churn: pods leaving free what newcomers take, in both memories
    [2, 2, 0.5, 1.5, 6], // releases as quick to count as adds
    [0, 0, 0, 3, 0], // never below 0
  ])(
    'adds %p/s (window %p/s), releases %p/s (window %p/s) → %p',
    (rate, recent, releases, recentReleases, want) => {
      expect(roundTripDemand(input({ rate, recent, releases, recentReleases }))).toBe(want);
    },
  );
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

describe('releases wait until the drain is over (or the hold)', () => {
  // input(): 10 held, all assigned, so free = 0; `free` adds free addresses.
  const withFree = (free: number) => {
    const i = input();
    for (let n = 0; n < free; n++) i.state.interfaces[0].addresses.push({ ip: `10.0.2.${n}`, state: 'free' });
    return i;
  };
  const at = (overSince: number, peakFree: number, peakAt: number): FlatWriteState => ({
    overSince,
    peakFree,
    peakAt,
  });
  test.each<
    [string, FlatWriteState | undefined, number, PoolAction[], PoolAction[], FlatWriteState | undefined]
  >([
    // name, state before, free now, plan, actions after, state after
    ['first wish to release: held, the clocks start', undefined, 8, [release(3)], [], at(NOW, 8, NOW)],
    [
      'still draining (free rose): held, the quiet clock restarts',
      at(NOW - 20_000, 8, NOW - 5_000),
      12,
      [release(7)],
      [],
      at(NOW - 20_000, 12, NOW),
    ],
    [
      'quiet for less than FLAT_RELEASE_QUIET_MS: held',
      at(NOW - 20_000, 12, NOW - FLAT_RELEASE_QUIET_MS + 1),
      12,
      [release(7)],
      [],
      at(NOW - 20_000, 12, NOW - FLAT_RELEASE_QUIET_MS + 1),
    ],
    [
      'quiet for FLAT_RELEASE_QUIET_MS: all of it in one action',
      at(NOW - 20_000, 12, NOW - FLAT_RELEASE_QUIET_MS),
      12,
      [release(7)],
      [release(7)],
      undefined,
    ],
    [
      'a drain that goes on: released at FLAT_RELEASE_HOLD_MS anyway',
      at(NOW - FLAT_RELEASE_HOLD_MS, 20, NOW - 500),
      21,
      [release(16)],
      [release(16)],
      undefined,
    ],
    [
      'the excess is gone (no release planned): forgotten',
      at(NOW - 30_000, 9, NOW - 9_000),
      4,
      [],
      [],
      undefined,
    ],
    ['a grow instead: forgotten', at(NOW - 30_000, 9, NOW - 9_000), 0, [assign(1)], [assign(1)], undefined],
  ])('%s', (_name, before, free, plan, want, after) => {
    const out = shapeFlatWrites(plan, withFree(free), before);
    expect(out.actions).toEqual(want);
    expect(out.state).toEqual(after);
  });

  test.each([
    // releasing, net demand of one round trip (adds /s over 12 s), written?
    [7, 0, true],
    [7, 0.5, true], // 6 < 7
    [6, 0.5, false], // what the next round trip takes back is not worth a write
    [3, 2, false],
  ])('hysteresis: releasing %p with adds at %p/s → written %p', (n, rate, written) => {
    const i = withFree(n + 5);
    i.demand.addRatePerSec = rate;
    const due = at(NOW - 20_000, n + 5, NOW - FLAT_RELEASE_QUIET_MS);
    expect(shapeFlatWrites([release(n)], i, due).actions.length).toBe(written ? 1 : 0);
  });

  test('a detach in the same plan is kept while the release waits', () => {
    const detach: PoolAction = { kind: 'detach', interfaceId: 'nic1' };
    expect(shapeFlatWrites([release(2), detach], withFree(3), undefined).actions).toEqual([detach]);
  });
});
