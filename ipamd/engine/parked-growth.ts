// Growth for parked requests, in the aws-compatible policy: Tidepool's own improvement, not the
// incumbent's formula. The incumbent grows one step per round (top up one interface, else attach one),
// which is right for a WARM target with nobody waiting, but makes a burst that lands on an empty pool
// wait for one cloud round trip per interface, one after another (issue 5, bench `burst`: three
// create-and-attach round trips). When requests are parked (real demand, waiting now) and that one step
// cannot serve them all, the round plans every step at once: it tops up each existing interface with
// room and attaches as many new interfaces as the remaining parked demand needs, each with its addresses
// requested inline. The reconciler runs these actions concurrently through the budget, so the burst
// costs one attach plus one assign round trip. Device numbers are chosen here, distinct, before any call.
// Without parked demand (or in the incumbent comparison mode, where nothing parks) the classic step is
// the whole plan, exactly as the incumbent computes it.

import { type PlanInput, type PoolAction, PREFIX_SIZE } from './model.js';
import { type PoolStats, unitsOf } from './stats.js';

export interface ParkedGrowthInput {
  input: PlanInput;
  stats: PoolStats;
  /** The incumbent's one step for this round (assign to one interface, or attach one). */
  step: PoolAction;
  /** Units (addresses, or prefixes in prefix mode) the warm formula wants this round. */
  warmUnits: number;
  /** Units the per-instance address cap still allows. */
  instanceRoomUnits: number;
  /** true in WARM_ENI_TARGET mode: the formula grows in whole interfaces. */
  wholeInterfaces: boolean;
}

/** The lowest `n` device numbers not used by the node's interfaces (0 is the primary's). */
export function freeDeviceNumbers(input: PlanInput, n: number): number[] {
  const used = new Set(input.state.interfaces.map((i) => i.deviceNumber));
  const out: number[] = [];
  for (let d = 1; out.length < n; d++) if (!used.has(d)) out.push(d);
  return out;
}

/**
 * Every action needed to serve the parked requests in one round, or null when the classic step already
 * serves them all (or nothing is parked, or this is the comparison mode).
 */
export function growForParked(g: ParkedGrowthInput): PoolAction[] | null {
  const { input, stats: s, step } = g;
  if (input.coolingCountsAsAvailable || input.demand.parked <= 0) return null;
  if (step.kind !== 'assign' && step.kind !== 'attach') return null;
  const pd = input.targets.prefixDelegation;
  const unitSize = pd ? PREFIX_SIZE : 1;
  // Addresses the parked requests still lack after taking every free one; no more than max pods allow.
  const deficit = Math.min(input.demand.parked - s.free, input.capacity.maxPods - s.total);
  if (deficit <= 0 || step.count * unitSize >= deficit) return null;

  const podsRoomUnits = Math.ceil((input.capacity.maxPods - s.total) / unitSize);
  let remaining = Math.min(Math.max(Math.ceil(deficit / unitSize), g.warmUnits), g.instanceRoomUnits);
  let budget = Math.min(podsRoomUnits, g.instanceRoomUnits);
  const maxUnits = s.maxUnitsPerInterface;
  const unit = pd ? 'prefix' : 'address';
  const actions: PoolAction[] = [];
  const take = (room: number) => {
    const count = Math.min(g.wholeInterfaces ? room : Math.min(room, remaining), budget);
    remaining -= count;
    budget -= count;
    return count;
  };
  for (const iface of [...input.state.interfaces].sort((a, b) => a.deviceNumber - b.deviceNumber)) {
    if (remaining <= 0 || budget <= 0) break;
    const room = maxUnits - unitsOf(iface, pd);
    if (room <= 0) continue;
    actions.push({ kind: 'assign', interfaceId: iface.id, count: take(room), unit });
  }
  const slots = Math.max(0, input.capacity.maxInterfaces - input.state.interfaces.length);
  const wanted = Math.min(slots, Math.ceil(Math.max(0, remaining) / maxUnits));
  for (const deviceNumber of freeDeviceNumbers(input, wanted)) {
    if (remaining <= 0 || budget <= 0) break;
    actions.push({ kind: 'attach', deviceNumber, count: take(maxUnits), unit });
  }
  return actions.length ? actions : null;
}
