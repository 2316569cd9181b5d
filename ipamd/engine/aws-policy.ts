// The `aws-compatible` policy: the AWS VPC CNI's warm-pool formulas, reproduced exactly
// (reference aws-vpc-cni.md 2.3 and 3.3-3.5; ipamd.go updateIPPoolIfRequired), so an operator's
// WARM_ENI_TARGET / WARM_IP_TARGET / MINIMUM_IP_TARGET / WARM_PREFIX_TARGET / MAX_ENI tuning carries
// over. The counting (stats.ts) differs in one point: cooling addresses are never available.
// One round = one call of updateIPPoolIfRequired: grow (fill an existing interface first, else attach
// one), or shrink (at most every 30 s); then maybe free one interface. Tidepool's one departure in
// growth: parked requests that one step cannot serve get every step at once (parked-growth.ts).

import {
  DECREASE_INTERVAL_MS,
  isCooling,
  MIN_ENI_LIFETIME_MS,
  type PlanInput,
  type PoolAction,
  type PoolInterface,
  PREFIX_SIZE,
} from './model.js';
import { growForParked } from './parked-growth.js';
import { interfaceCounts, isPrefixFree, poolStats, prefixUse, type PoolStats, unitsOf } from './stats.js';

const divCeil = (a: number, b: number) => Math.ceil(a / b);

export function warmIpTargetsDefined(input: PlanInput): boolean {
  return input.targets.warmIpTarget > 0 || input.targets.minimumIpTarget > 0;
}

/** datastoreTargetState: (short, over), in prefixes in prefix mode. */
export function targetState(input: PlanInput, s: PoolStats): { short: number; over: number } {
  const { warmIpTarget: warm, minimumIpTarget: min, prefixDelegation } = input.targets;
  let short = Math.max(warm - s.available, 0);
  short = Math.max(short, min - s.total);
  let over = Math.max(s.available - warm, 0);
  over = Math.max(Math.min(over, s.total - min), 0);
  if (!prefixDelegation) return { short, over };
  // Addresses held by pods (and, for Tidepool, cooling) cannot be released with their prefix.
  const held = s.assigned + (input.coolingCountsAsAvailable ? 0 : s.cooling);
  const neededForWarm = divCeil(held + warm, PREFIX_SIZE);
  const neededForMin = divCeil(min, PREFIX_SIZE);
  let overPrefix = Math.max(Math.min(s.freePrefixes, s.totalPrefixes - neededForWarm), 0);
  overPrefix = Math.max(Math.min(overPrefix, s.totalPrefixes - neededForMin), 0);
  return { short: divCeil(short, PREFIX_SIZE), over: overPrefix };
}

/** isDatastorePoolTooLow. */
export function isPoolTooLow(input: PlanInput, s: PoolStats): boolean {
  if (s.total >= input.capacity.maxPods) return false;
  if (warmIpTargetsDefined(input)) return targetState(input, s).short > 0;
  const pd = input.targets.prefixDelegation;
  const target = pd ? input.targets.warmPrefixTarget : input.targets.warmEniTarget;
  const perUnit = pd ? PREFIX_SIZE : s.maxIPsPerInterface;
  return s.available < perUnit * target || (target === 0 && s.available === 0);
}

/** isDatastorePoolTooHigh: only with WARM_IP/MINIMUM_IP, or in prefix mode. */
export function isPoolTooHigh(input: PlanInput, s: PoolStats): boolean {
  if (warmIpTargetsDefined(input)) return targetState(input, s).over > 0;
  if (input.targets.prefixDelegation) return s.freePrefixes > input.targets.warmPrefixTarget;
  return false;
}

/** getPrefixesNeeded: at least one prefix; WARM_IP_TARGET takes precedence over WARM_PREFIX_TARGET. */
function prefixesNeeded(input: PlanInput, s: PoolStats): number {
  if (warmIpTargetsDefined(input)) return Math.max(1, targetState(input, s).short);
  return Math.max(1, input.targets.warmPrefixTarget - s.effectiveFreePrefixes);
}

/** Interfaces sorted for filling: the primary first, then by device number (deterministic). */
const byDevice = (a: PoolInterface, b: PoolInterface) => a.deviceNumber - b.deviceNumber;

export function nextDeviceNumber(input: PlanInput): number {
  const used = new Set(input.state.interfaces.map((i) => i.deviceNumber));
  let d = 1;
  while (used.has(d)) d++;
  return d;
}

/** Addresses the per-VM cap (Azure 256) still allows, in units. */
function instanceRoom(input: PlanInput, s: PoolStats): number {
  const cap = input.capacity.maxAddressesPerInstance;
  if (cap === undefined) return Number.MAX_SAFE_INTEGER;
  const primaries = input.state.interfaces.length;
  const room = cap - primaries - s.total;
  return input.targets.prefixDelegation ? Math.floor(room / PREFIX_SIZE) : room;
}

/**
 * increaseDatastorePool: top up one existing interface, else attach one. With parked requests that
 * one step cannot serve, Tidepool plans every step at once instead (parked-growth.ts).
 */
function increase(input: PlanInput, s: PoolStats): PoolAction[] {
  const step = increaseStep(input, s);
  if (!step) return [];
  const parked = growForParked({
    input,
    stats: s,
    step: step.action,
    warmUnits: step.toAllocate,
    instanceRoomUnits: instanceRoom(input, s),
    wholeInterfaces: !input.targets.prefixDelegation && !warmIpTargetsDefined(input),
  });
  return parked ?? [step.action];
}

/** The incumbent's one step, and how many units its formula asked for. */
function increaseStep(input: PlanInput, s: PoolStats): { action: PoolAction; toAllocate: number } | null {
  const pd = input.targets.prefixDelegation;
  const unit = pd ? 'prefix' : 'address';
  const maxUnits = s.maxUnitsPerInterface;
  let toAllocate: number;
  if (pd) toAllocate = prefixesNeeded(input, s);
  else if (warmIpTargetsDefined(input)) toAllocate = targetState(input, s).short;
  else toAllocate = maxUnits;
  toAllocate = Math.min(toAllocate, instanceRoom(input, s));
  if (toAllocate <= 0) return null;
  for (const iface of [...input.state.interfaces].sort(byDevice)) {
    const units = unitsOf(iface, pd);
    if (units < maxUnits) {
      const count = Math.min(maxUnits - units, toAllocate);
      return { action: { kind: 'assign', interfaceId: iface.id, count, unit }, toAllocate };
    }
  }
  if (input.state.interfaces.length >= input.capacity.maxInterfaces) return null; // hasRoomForEni
  const count = Math.min(toAllocate, maxUnits);
  return { action: { kind: 'attach', deviceNumber: nextDeviceNumber(input), count, unit }, toAllocate };
}

/** tryUnassignCidrsFromAll: release up to `over` unused addresses (or prefixes). */
function decrease(input: PlanInput, s: PoolStats): PoolAction[] {
  const pd = input.targets.prefixDelegation;
  let over = warmIpTargetsDefined(input)
    ? targetState(input, s).over
    : pd
      ? Math.max(s.freePrefixes - input.targets.warmPrefixTarget, 0)
      : 0;
  const actions: PoolAction[] = [];
  // Release from the least used interfaces first, so that they can be freed whole later.
  const order = [...input.state.interfaces].sort(
    (a, b) =>
      interfaceCounts(a, input.now).assigned - interfaceCounts(b, input.now).assigned ||
      b.deviceNumber - a.deviceNumber,
  );
  for (const iface of order) {
    if (over <= 0) break;
    let freeable: string[];
    if (pd) {
      freeable = [...prefixUse(iface, input.now)]
        .filter(([, u]) => isPrefixFree(u, input.coolingCountsAsAvailable))
        .map(([p]) => p);
    } else {
      // The incumbent's FindFreeableCidrs only asks "no pod on it", so it hands cooling addresses back to
      // the cloud; Tidepool keeps them until their cooldown ends (another pod or node could reuse them).
      freeable = iface.addresses
        .filter(
          (a) =>
            !a.prefix &&
            a.state !== 'assigned' &&
            (input.coolingCountsAsAvailable || !isCooling(a, input.now)),
        )
        .map((a) => a.ip);
    }
    const take = freeable.slice(0, Math.min(over, freeable.length));
    if (!take.length) continue;
    over -= take.length;
    actions.push({
      kind: 'release',
      interfaceId: iface.id,
      addresses: pd ? [] : take,
      prefixes: pd ? take : [],
    });
  }
  return actions;
}

/** The pool as it will be once `releases` are done (the incumbent deletes from its datastore first). */
function afterReleases(input: PlanInput, releases: PoolAction[]): PlanInput {
  const gone = new Set<string>();
  for (const a of releases)
    if (a.kind === 'release') [...a.addresses, ...a.prefixes].forEach((x) => gone.add(x));
  if (!gone.size) return input;
  const interfaces = input.state.interfaces.map((i) => ({
    ...i,
    addresses: i.addresses.filter((a) => !gone.has(a.ip) && !(a.prefix && gone.has(a.prefix))),
    prefixes: i.prefixes.filter((p) => !gone.has(p)),
  }));
  return { ...input, state: { interfaces } };
}

/** shouldRemoveExtraENIs. */
function shouldRemoveExtraInterfaces(input: PlanInput, s: PoolStats): boolean {
  if (warmIpTargetsDefined(input)) return true;
  const pd = input.targets.prefixDelegation;
  const warmTarget = (pd ? input.targets.warmPrefixTarget : input.targets.warmEniTarget) + 1;
  if (s.available >= warmTarget * s.maxIPsPerInterface) return true;
  return pd && input.state.interfaces.some((i) => !i.primary && interfaceCounts(i, input.now).assigned === 0);
}

/** getDeletableENI: not primary, at least 60 s old, nothing cooling, no pods, not needed for a target. */
export function deletableInterface(input: PlanInput): PoolInterface | null {
  const { now, targets, coolingCountsAsAvailable: incumbent } = input;
  const others = (iface: PoolInterface) => input.state.interfaces.filter((o) => o.id !== iface.id);
  for (const iface of [...input.state.interfaces].sort((a, b) => b.deviceNumber - a.deviceNumber)) {
    if (iface.primary) continue;
    if (now - iface.attachedAt < MIN_ENI_LIFETIME_MS) continue;
    const c = interfaceCounts(iface, now);
    if (c.cooling > 0 || c.assigned > 0) continue;
    if (targets.warmIpTarget !== 0) {
      const otherWarm = others(iface).reduce((n, o) => {
        const oc = interfaceCounts(o, now);
        return n + oc.total - oc.assigned - (incumbent ? 0 : oc.cooling);
      }, 0);
      if (otherWarm < targets.warmIpTarget) continue;
    }
    if (targets.minimumIpTarget !== 0) {
      const otherIps = others(iface).reduce((n, o) => n + o.addresses.length, 0);
      const min = targets.prefixDelegation
        ? divCeil(targets.minimumIpTarget, PREFIX_SIZE) * PREFIX_SIZE
        : targets.minimumIpTarget;
      if (otherIps < min) continue;
    }
    if (targets.prefixDelegation) {
      let freePrefixes = 0;
      for (const o of others(iface))
        for (const u of prefixUse(o, now).values()) if (isPrefixFree(u, incumbent)) freePrefixes++;
      if (freePrefixes < targets.warmPrefixTarget) continue;
    }
    return iface;
  }
  return null;
}

export function planAwsCompatible(input: PlanInput): PoolAction[] {
  const s = poolStats(input);
  const actions: PoolAction[] = [];
  if (isPoolTooLow(input, s)) {
    actions.push(...increase(input, s));
  } else if (isPoolTooHigh(input, s) && input.now - input.lastDecreaseAt > DECREASE_INTERVAL_MS) {
    actions.push(...decrease(input, s));
  }
  // Never free an interface while requests wait for an address.
  if (input.demand.parked > 0 && !input.coolingCountsAsAvailable) return actions;
  const after = afterReleases(input, actions);
  if (shouldRemoveExtraInterfaces(after, poolStats(after))) {
    const eni = deletableInterface(after);
    if (eni) actions.push({ kind: 'detach', interfaceId: eni.id });
  }
  return actions;
}
