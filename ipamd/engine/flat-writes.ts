// Plans for a cloud whose every write costs the same long round trip whatever it carries (Azure: one NIC
// PUT, 10-20 s, whether it adds 1 IP configuration or 40; reference cloud-api-figures.md 4). The
// policies' plans are shaped there, and nowhere else (AWS is untouched):
// - a grow also carries the addresses expected to be taken, net, while its write is on the wire
//   ((ADD rate − release rate) × learned round trip, each rate the larger of the decaying estimate and the
//   last burst window's), so that the pool is not short again when the PUT lands;
// - a release is held while the pool drains (its free count still rising) and written once that count has
//   not risen for FLAT_RELEASE_QUIET_MS, or FLAT_RELEASE_HOLD_MS after the pool first went over its target:
//   a drain is given back in one PUT instead of one every decrease gap;
// - and only when it gives back more than one round trip's net demand (hysteresis: what the next round
//   trip would take back is not worth a write).
// Besides, the reconciler does not chain such a provider's writes per interface (cloud/actions.ts): its NIC
// writer merges every add and release asked for while a PUT is on the wire into the next PUT.
// Pure: the caller keeps the state between rounds.
import type { PlanInput, PoolAction } from './model.js';
import { PREFIX_SIZE } from './model.js';
import { poolStats, unitsOf } from './stats.js';

/** A release is written at the latest this long after the pool went over its target. */
export const FLAT_RELEASE_HOLD_MS = 60_000;
/** ... or once the free count has stopped rising for this long (the drain is over). */
export const FLAT_RELEASE_QUIET_MS = 10_000;

/** What the shaping remembers between rounds (the caller keeps it; undefined at first). */
export interface FlatWriteState {
  /** When the policy first wanted to release, in this run of wanting. */
  overSince: number;
  /** The most free addresses seen since, and when the count last rose to it. */
  peakFree: number;
  peakAt: number;
}

export interface FlatWritePlan {
  actions: PoolAction[];
  state: FlatWriteState | undefined;
}

/**
 * Addresses (or prefixes, rounded up) expected to be taken, net, during one write's round trip: the ADD
 * rate less the release rate (a pod leaving frees an address a newcomer takes), × the learned round trip;
 * never below 0. Each rate is the larger of the decaying estimate (slow to rise: 10 % of a new rate
 * after 3 s) and the rate over the last burst window (quick to rise, and to fall), so a grow at the start
 * of a burst is not sized by a rate that has not caught up yet. Rounded up for a grow (by default), to the
 * nearest for the release hysteresis.
 */
export function roundTripDemand(input: PlanInput, rounding: (x: number) => number = Math.ceil): number {
  const d = input.demand;
  const adds = Math.max(d.addRatePerSec, d.recentAddRatePerSec ?? 0);
  const releases = Math.max(d.releaseRatePerSec ?? 0, d.recentReleaseRatePerSec ?? 0);
  const n = rounding((Math.max(0, adds - releases) * Math.max(0, d.roundTripMs)) / 1000);
  return input.targets.prefixDelegation ? Math.ceil(n / PREFIX_SIZE) : n;
}

export function shapeFlatWrites(
  actions: PoolAction[],
  input: PlanInput,
  prev: FlatWriteState | undefined,
): FlatWritePlan {
  let out = actions;
  let state: FlatWriteState | undefined;
  if (actions.some((a) => a.kind === 'release')) {
    const free = poolStats(input).free;
    state = prev ? { ...prev } : { overSince: input.now, peakFree: free, peakAt: input.now };
    if (free > state.peakFree) {
      state.peakFree = free;
      state.peakAt = input.now;
    }
    const releasing = actions.reduce(
      (n, a) => n + (a.kind === 'release' ? a.addresses.length + a.prefixes.length * PREFIX_SIZE : 0),
      0,
    );
    // Rounded, not up: a rate that has decayed to nearly nothing does not hold one address forever.
    const extraAddrs =
      roundTripDemand(input, Math.round) * (input.targets.prefixDelegation ? PREFIX_SIZE : 1);
    // Hysteresis: what one round trip's demand would take back is not worth a write.
    const worth = releasing > extraAddrs;
    const due =
      worth &&
      (input.now - state.overSince >= FLAT_RELEASE_HOLD_MS ||
        input.now - state.peakAt >= FLAT_RELEASE_QUIET_MS);
    if (due) state = undefined;
    else out = out.filter((a) => a.kind !== 'release');
  }

  const extra = roundTripDemand(input);
  if (extra > 0 && out.some((a) => a.kind === 'assign')) {
    const pd = input.targets.prefixDelegation;
    const maxUnits = input.capacity.ipv4PerInterface - 1;
    const cap = input.capacity.maxAddressesPerInstance;
    const held = input.state.interfaces.reduce((n, i) => n + i.addresses.length, 0);
    const planned = out.reduce((n, a) => n + (a.kind === 'assign' ? a.count * (pd ? PREFIX_SIZE : 1) : 0), 0);
    // What the per-VM cap (Azure 256, less each NIC's primary) and max pods still allow, in units.
    const addrRoom = Math.min(
      cap === undefined ? Number.MAX_SAFE_INTEGER : cap - input.state.interfaces.length - held - planned,
      input.capacity.maxPods - held - planned,
    );
    let spare = Math.max(0, pd ? Math.floor(addrRoom / PREFIX_SIZE) : addrRoom);
    let left = extra;
    out = out.map((a) => {
      if (a.kind !== 'assign' || left <= 0 || spare <= 0) return a;
      const iface = input.state.interfaces.find((i) => i.id === a.interfaceId);
      const room = iface ? maxUnits - unitsOf(iface, pd) - a.count : 0;
      const add = Math.max(0, Math.min(left, room, spare));
      left -= add;
      spare -= add;
      return add ? { ...a, count: a.count + add } : a;
    });
  }
  return { actions: out, state };
}
