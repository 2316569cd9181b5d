// The `adaptive` policy: keep as many free addresses as pods will ask for during the next cloud round
// trip, learned from the observed ADD rate and from the largest burst seen within one round trip in the
// last minutes (so a CronJob's burst each minute finds its addresses waiting), plus every parked request. Growth is immediate and may use
// several interfaces in one round; shrink is delayed (the 30 s decrease gap) and has hysteresis: the
// pool releases only when it holds more than twice its target, and then only down to the target.
// Bounded by MINIMUM_IP_TARGET (floor), MAX_ENI and the instance's capacity, like the AWS policy.
// Tuned on the churn bench (issue 14) to beat the defaults on every axis at once: a prior of 10 free
// before any burst is learned; bursts remembered for 15 min; growth overshoots the target by 30% (one
// call covers the next pods too); with nobody waiting, three quarters of the cooling addresses count
// toward the buffer (a top-up that a cooldown ends anyway is a call saved); shrink at most every 2 min;
// new interfaces only for what parked requests lack (a warm-only attach is lazy: ipamd/congestion.ts).
// HPA trend (branch fleet): a burst of the last 30 s may be an HPA step, and the HPA's default next step
// doubles it within 15 s (max(+4, ×2) per 15 s, cloud-api-figures.md 6), so twice it is kept free. In the
// churn bench the pods that still waited were HPA steps meeting a buffer of cooling addresses.

import {
  DECREASE_INTERVAL_MS,
  isCooling,
  MIN_ENI_LIFETIME_MS,
  type PlanInput,
  type PoolAction,
  type PoolInterface,
  PREFIX_SIZE,
} from './model.js';
import { nextDeviceNumber } from './aws-policy.js';
import { interfaceCounts, isPrefixFree, poolStats, prefixUse, unitsOf } from './stats.js';

/** How far ahead the policy provisions beyond one round trip (one reconcile tick of slack). */
export const ADAPTIVE_LOOKAHEAD_MS = 1_000;
/** Release only when free > HYSTERESIS × target. */
export const ADAPTIVE_HYSTERESIS = 2;
/** Growth overshoots the target by this factor, so that one call covers the next few pods too. */
export const ADAPTIVE_GROWTH_SLACK = 1.3;
/** The buffer never falls below this many free, learned or not (a node's first burst finds them). */
export const ADAPTIVE_PRIOR = 10;
/** Share of the cooling addresses counted toward the buffer when nothing is parked. */
export const ADAPTIVE_COOLING_SHARE = 0.75;
/** Shrink at most this often (the AWS 30 s gap is the floor). */
export const ADAPTIVE_SHRINK_GAP_MS = 120_000;

/** A burst of the last HPA_TREND_MS may be followed by one this many times larger (HPA: ×2 per 15 s). */
export const ADAPTIVE_TREND_FACTOR = 2;

/** Free addresses the adaptive policy wants on hand (excluding parked requests). */
export function adaptiveTarget(input: PlanInput): number {
  const { addRatePerSec, roundTripMs, burstPeak = 0, recentBurst = 0 } = input.demand;
  const expected = Math.ceil((addRatePerSec * (roundTripMs + ADAPTIVE_LOOKAHEAD_MS)) / 1000);
  const trend = ADAPTIVE_TREND_FACTOR * recentBurst;
  return Math.max(expected, burstPeak, trend, input.targets.warmIpTarget, ADAPTIVE_PRIOR, 1);
}

export function planAdaptive(input: PlanInput): PoolAction[] {
  const s = poolStats(input);
  const pd = input.targets.prefixDelegation;
  const target = adaptiveTarget(input);
  const parked = input.demand.parked;
  const cap = Math.min(
    input.capacity.maxPods,
    input.capacity.maxAddressesPerInstance ?? Number.MAX_SAFE_INTEGER,
  );
  const room = Math.max(0, cap - s.total);
  // Addresses cooling now are free again within the cooldown: with nobody waiting, a part of them
  // counts toward the buffer (a top-up that a cooldown ends anyway is a call saved).
  const soon = parked === 0 ? Math.floor(s.cooling * ADAPTIVE_COOLING_SHARE) : 0;
  let need = Math.max(target + parked - s.free - soon, input.targets.minimumIpTarget - s.total, 0);
  if (need > 0) need = Math.max(need, Math.ceil(target * ADAPTIVE_GROWTH_SLACK) + parked - s.free - soon);
  need = Math.min(need, room);
  // New interfaces only for what parked requests lack; the buffer's share goes to interfaces with room
  // (a warm-only attach is the reconciler's lazy kind: congestion.ts).
  if (need > 0) return grow(input, need, parked > 0 ? Math.min(room, parked - s.free) : need);

  const actions: PoolAction[] = [];
  const decreaseDue =
    input.now - input.lastDecreaseAt > Math.max(DECREASE_INTERVAL_MS, ADAPTIVE_SHRINK_GAP_MS);
  if (decreaseDue && parked === 0 && s.free > ADAPTIVE_HYSTERESIS * target) {
    let excess = Math.min(s.free - target, s.total - input.targets.minimumIpTarget);
    for (const iface of releaseOrder(input)) {
      if (excess <= 0) break;
      if (pd) {
        const prefixes = [...prefixUse(iface, input.now)]
          .filter(([, u]) => isPrefixFree(u, false))
          .map(([p]) => p)
          .slice(0, Math.floor(excess / PREFIX_SIZE));
        if (!prefixes.length) continue;
        excess -= prefixes.length * PREFIX_SIZE;
        actions.push({ kind: 'release', interfaceId: iface.id, addresses: [], prefixes });
      } else {
        const addresses = iface.addresses
          .filter((a) => a.state !== 'assigned' && !isCooling(a, input.now))
          .map((a) => a.ip)
          .slice(0, excess);
        if (!addresses.length) continue;
        excess -= addresses.length;
        // An interface left with nothing is detached instead (below) when old enough.
        actions.push({ kind: 'release', interfaceId: iface.id, addresses, prefixes: [] });
      }
    }
  }
  if (parked === 0) {
    const eni = idleInterface(input, target);
    if (eni) {
      const i = actions.findIndex((a) => a.kind === 'release' && a.interfaceId === eni.id);
      if (i >= 0) actions.splice(i, 1);
      actions.push({ kind: 'detach', interfaceId: eni.id });
    }
  }
  return actions;
}

/** Growth by `needAddresses` (rounded up to /28s in prefix mode): fill interfaces with room, then attach. */
export function grow(
  input: PlanInput,
  needAddresses: number,
  /** Of `needAddresses`, at most this many may need new interfaces (default all). */
  attachAddresses = needAddresses,
): PoolAction[] {
  const pd = input.targets.prefixDelegation;
  const unit = pd ? 'prefix' : 'address';
  const maxUnits = input.capacity.ipv4PerInterface - 1;
  const units = (n: number) => (pd ? Math.ceil(Math.max(0, n) / PREFIX_SIZE) : Math.max(0, n));
  let need = units(needAddresses);
  const notAttached = need - units(attachAddresses);
  const actions: PoolAction[] = [];
  for (const iface of [...input.state.interfaces].sort((a, b) => a.deviceNumber - b.deviceNumber)) {
    if (need <= 0) break;
    const room = maxUnits - unitsOf(iface, pd);
    if (room <= 0) continue;
    const count = Math.min(room, need);
    actions.push({ kind: 'assign', interfaceId: iface.id, count, unit });
    need -= count;
  }
  let ifaces = input.state.interfaces.length;
  const used = new Set(input.state.interfaces.map((i) => i.deviceNumber));
  let device = nextDeviceNumber(input);
  need -= Math.max(0, notAttached);
  while (need > 0 && ifaces < input.capacity.maxInterfaces) {
    const count = Math.min(maxUnits, need);
    actions.push({ kind: 'attach', deviceNumber: device, count, unit });
    used.add(device);
    while (used.has(device)) device++;
    need -= count;
    ifaces++;
  }
  return actions;
}

/** Least used non-primary interfaces first, so that releases empty whole interfaces. */
export function releaseOrder(input: PlanInput): PoolInterface[] {
  return [...input.state.interfaces].sort(
    (a, b) =>
      Number(a.primary) - Number(b.primary) ||
      interfaceCounts(a, input.now).assigned - interfaceCounts(b, input.now).assigned ||
      b.deviceNumber - a.deviceNumber,
  );
}

/** An interface with no pods and nothing cooling, old enough, whose loss keeps the pool at target. */
export function idleInterface(input: PlanInput, target: number): PoolInterface | null {
  const s = poolStats(input);
  for (const iface of [...input.state.interfaces].sort((a, b) => b.deviceNumber - a.deviceNumber)) {
    if (iface.primary || input.now - iface.attachedAt < MIN_ENI_LIFETIME_MS) continue;
    const c = interfaceCounts(iface, input.now);
    if (c.assigned > 0 || c.cooling > 0) continue;
    if (s.free - c.free < target) continue;
    if (s.total - c.total < input.targets.minimumIpTarget) continue;
    return iface;
  }
  return null;
}
