// Subnet scarcity mode (issue 14): when the subnet the node's interfaces draw from has fewer free
// addresses than a threshold, a warm pool is a loss for the cluster: its idle addresses are exactly the
// ones another node's waiting pods need. So, whatever policy is configured, the node keeps no buffer
// beyond its own demand (requests parked now, plus what its learned rate asks for during one cloud
// round trip), releases every other idle address (the releases come first, at a short gap, not the
// 30 s one), and frees an interface that holds nothing (its primary address goes back to the subnet
// too). It grows only for requests that are waiting. Cooling addresses stay until their cooldown ends
// (reusing one at once is the risk the cooldown exists for). Pure: no I/O, no clock.

import { ADAPTIVE_LOOKAHEAD_MS, grow, idleInterface, releaseOrder } from './adaptive-policy.js';
import { isCooling, type PlanInput, type PoolAction, PREFIX_SIZE } from './model.js';
import { isPrefixFree, poolStats, prefixUse } from './stats.js';

/** Releases under scarcity at most this often (the non-scarce gap is DECREASE_INTERVAL_MS, 30 s). */
export const SCARCE_RELEASE_GAP_MS = 5_000;

/** Is a subnet scarce: fewer than `percent`% of its usable addresses free. percent 0 = never. */
export function subnetScarce(freeAddresses: number, usableAddresses: number, percent: number): boolean {
  return percent > 0 && freeAddresses < (usableAddresses * percent) / 100;
}

/** The buffer a node keeps under scarcity, beyond parked requests: one round trip of its own demand. */
export function scarceBuffer(input: PlanInput): number {
  const { addRatePerSec, roundTripMs } = input.demand;
  return Math.ceil((addRatePerSec * (roundTripMs + ADAPTIVE_LOOKAHEAD_MS)) / 1000);
}

export function planScarce(input: PlanInput): PoolAction[] {
  const s = poolStats(input);
  const parked = input.demand.parked;
  const cap = Math.min(
    input.capacity.maxPods,
    input.capacity.maxAddressesPerInstance ?? Number.MAX_SAFE_INTEGER,
  );
  // Growth only for requests waiting now (they are the demand the last addresses should go to).
  const need = Math.min(parked - s.free, Math.max(0, cap - s.total));
  if (need > 0) return grow(input, need);
  if (parked > 0) return [];

  const actions: PoolAction[] = [];
  const keep = Math.max(scarceBuffer(input), 0);
  let excess = Math.min(s.free - keep, s.total - input.targets.minimumIpTarget);
  if (input.now - input.lastDecreaseAt > SCARCE_RELEASE_GAP_MS && excess > 0) {
    for (const iface of releaseOrder(input)) {
      if (excess <= 0) break;
      if (input.targets.prefixDelegation) {
        const prefixes = [...prefixUse(iface, input.now)]
          .filter(([, u]) => isPrefixFree(u, false))
          .map(([p]) => p)
          .slice(0, Math.floor(excess / PREFIX_SIZE));
        if (!prefixes.length) continue;
        excess -= prefixes.length * PREFIX_SIZE;
        actions.push({ kind: 'release', interfaceId: iface.id, addresses: [], prefixes });
      } else {
        const addresses = iface.addresses
          .filter((a) => !a.prefix && a.state !== 'assigned' && !isCooling(a, input.now))
          .map((a) => a.ip)
          .slice(0, excess);
        if (!addresses.length) continue;
        excess -= addresses.length;
        actions.push({ kind: 'release', interfaceId: iface.id, addresses, prefixes: [] });
      }
    }
  }
  const empty = idleInterface(input, scarceBuffer(input)); // one whose loss keeps the buffer
  if (empty) {
    const i = actions.findIndex((a) => a.kind === 'release' && a.interfaceId === empty.id);
    if (i >= 0) actions.splice(i, 1);
    actions.push({ kind: 'detach', interfaceId: empty.id });
  }
  return actions;
}
