// Plans for a cloud whose every write costs the same long round trip whatever it carries (Azure: one NIC
// PUT, 10-20 s, whether it adds 1 IP configuration or 40; reference cloud-api-figures.md 4). The
// policies' plans are shaped in two ways there, and nowhere else (AWS is untouched):
// - a grow also covers the addresses expected to be taken while its write is on the wire
//   (learned ADD rate × learned round trip): otherwise a pool kept at WARM_IP_TARGET is short again by
//   the time the PUT lands, and each deficit of 1-2 addresses costs one more PUT;
// - a release waits until the pool has been over its target for FLAT_RELEASE_HOLD_MS without a break,
//   then goes as the policy planned it (all the excess, one PUT): a drain that goes on for a while is
//   given back in one write instead of one every decrease gap, and a dip that demand refills is not
//   written at all.
// Pure: the caller keeps `overSince` (when the policy first wanted to release, in this run of wanting).
import type { PlanInput, PoolAction } from './model.js';
import { PREFIX_SIZE } from './model.js';
import { unitsOf } from './stats.js';

/** How long the pool must stay over its target before a release is written. */
export const FLAT_RELEASE_HOLD_MS = 60_000;

export interface FlatWritePlan {
  actions: PoolAction[];
  /** The new `overSince`: set while releases are held, undefined otherwise. */
  overSince: number | undefined;
}

/** Addresses (or prefixes, rounded up) expected to be taken during one write's round trip. */
export function roundTripDemand(input: PlanInput): number {
  const { addRatePerSec, roundTripMs } = input.demand;
  const n = Math.ceil((Math.max(0, addRatePerSec) * Math.max(0, roundTripMs)) / 1000);
  return input.targets.prefixDelegation ? Math.ceil(n / PREFIX_SIZE) : n;
}

export function shapeFlatWrites(
  actions: PoolAction[],
  input: PlanInput,
  overSince: number | undefined,
): FlatWritePlan {
  const releases = actions.filter((a) => a.kind === 'release');
  let next = overSince;
  let out = actions;
  if (releases.length) {
    next ??= input.now;
    if (input.now - next < FLAT_RELEASE_HOLD_MS) out = out.filter((a) => a.kind !== 'release');
    else next = undefined;
  } else next = undefined;

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
  return { actions: out, overSince: next };
}
