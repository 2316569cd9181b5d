// Counting the pool: the numbers the AWS formulas are written in (reference aws-vpc-cni.md 3.2-3.5).
// The one deliberate difference from the incumbent lives here: unless `coolingCountsAsAvailable`
// (comparison mode), an address in cooldown is neither available nor freeable, and a prefix holding
// one is not a free prefix (the incumbent's issue #2896: the warm target looks met while every free
// address is cooling, and ADD fails).

import { isCooling, type PlanInput, type PoolInterface, PREFIX_SIZE, slotsPerInterface } from './model.js';

export interface PoolStats {
  total: number;
  assigned: number;
  /** Addresses in cooldown now. */
  cooling: number;
  /** Free and not cooling: what a pod can get now. */
  free: number;
  /** What the formulas call available: free minus parked demand (or total − assigned for the incumbent). */
  available: number;
  totalPrefixes: number;
  /** Prefixes with no address in use (nor, for Tidepool, cooling). */
  freePrefixes: number;
  /** Free-prefix count after parked requests take their addresses (may go negative). */
  effectiveFreePrefixes: number;
  /** Secondary slots per interface: IPv4Limit − 1. */
  maxUnitsPerInterface: number;
  /** Addresses an interface can hold: maxUnits, ×16 in prefix mode. */
  maxIPsPerInterface: number;
}

export function interfaceCounts(iface: PoolInterface, now: number) {
  let assigned = 0;
  let cooling = 0;
  for (const a of iface.addresses) {
    if (a.state === 'assigned') assigned++;
    else if (isCooling(a, now)) cooling++;
  }
  return {
    total: iface.addresses.length,
    assigned,
    cooling,
    free: iface.addresses.length - assigned - cooling,
  };
}

/**
 * Slots an interface uses: secondary addresses, plus prefixes in prefix mode (a /28 takes one slot; in
 * prefix mode an interface may also hold /32s, the fallback when the subnet has no free /28 block), plus
 * slots the cloud lists as taken by nothing of ours.
 */
export function unitsOf(iface: PoolInterface, prefixMode: boolean): number {
  const secondary = iface.addresses.filter((a) => !a.prefix).length + (iface.blockedSlots ?? 0);
  return prefixMode ? iface.prefixes.length + secondary : secondary;
}

/** Per prefix: how many of its addresses are assigned and how many cooling. */
export function prefixUse(
  iface: PoolInterface,
  now: number,
): Map<string, { assigned: number; cooling: number }> {
  const use = new Map<string, { assigned: number; cooling: number }>();
  for (const p of iface.prefixes) use.set(p, { assigned: 0, cooling: 0 });
  for (const a of iface.addresses) {
    if (!a.prefix) continue;
    const u = use.get(a.prefix);
    if (!u) continue;
    if (a.state === 'assigned') u.assigned++;
    else if (isCooling(a, now)) u.cooling++;
  }
  return use;
}

export function isPrefixFree(
  u: { assigned: number; cooling: number },
  coolingCountsAsAvailable: boolean,
): boolean {
  return u.assigned === 0 && (coolingCountsAsAvailable || u.cooling === 0);
}

export function poolStats(input: PlanInput): PoolStats {
  const { state, now, coolingCountsAsAvailable, targets, capacity } = input;
  const parked = coolingCountsAsAvailable ? 0 : input.demand.parked;
  let total = 0;
  let assigned = 0;
  let cooling = 0;
  let totalPrefixes = 0;
  let freePrefixes = 0;
  let freeOutsideFreePrefixes = 0;
  for (const iface of state.interfaces) {
    const c = interfaceCounts(iface, now);
    total += c.total;
    assigned += c.assigned;
    cooling += c.cooling;
    totalPrefixes += iface.prefixes.length;
    for (const u of prefixUse(iface, now).values()) {
      if (isPrefixFree(u, coolingCountsAsAvailable)) freePrefixes++;
      else freeOutsideFreePrefixes += PREFIX_SIZE - u.assigned - u.cooling;
    }
  }
  const free = total - assigned - cooling;
  const available = coolingCountsAsAvailable ? total - assigned : free - parked;
  // Parked requests first take the free addresses of partly used prefixes, then whole free prefixes.
  const parkedIntoFreePrefixes = Math.max(0, parked - freeOutsideFreePrefixes);
  const effectiveFreePrefixes = freePrefixes - Math.ceil(parkedIntoFreePrefixes / PREFIX_SIZE);
  const maxUnitsPerInterface = slotsPerInterface(capacity);
  const maxIPsPerInterface = targets.prefixDelegation
    ? maxUnitsPerInterface * PREFIX_SIZE
    : maxUnitsPerInterface;
  return {
    total,
    assigned: assigned + parked,
    cooling,
    free,
    available,
    totalPrefixes,
    freePrefixes,
    effectiveFreePrefixes,
    maxUnitsPerInterface,
    maxIPsPerInterface,
  };
}
