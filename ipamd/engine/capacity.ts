// The node's capacity as the pool engine sees it: instance limits, MAX_ENI and max pods.

import type { Settings } from '../../config/settings.js';
import { maxPods } from '../../providers/capacity.js';
import type { InstanceLimits } from '../../providers/types.js';
import { PREFIX_SIZE, type PoolCapacity } from './model.js';

/**
 * @param skipPrimary custom networking: the primary interface holds no pod addresses, so the engine (which
 *   does not see it) may use one interface fewer, and max pods counts ENIs − 1 (reference aws-vpc-cni.md 3.10).
 */
export function poolCapacity(
  limits: InstanceLimits,
  pool: Settings['pool'],
  skipPrimary = false,
): PoolCapacity {
  const byType = skipPrimary ? { ...limits, maxInterfaces: limits.maxInterfaces - 1 } : limits;
  const maxEni = skipPrimary && pool.maxEni > 0 ? pool.maxEni - 1 : pool.maxEni;
  const maxInterfaces = Math.max(
    0,
    maxEni > 0 ? Math.min(byType.maxInterfaces, maxEni) : byType.maxInterfaces,
  );
  return {
    instanceType: limits.instanceType,
    maxInterfaces,
    ipv4PerInterface: limits.ipv4PerInterface,
    // kubelet's max pods ignores MAX_ENI (reference aws-vpc-cni.md 3.10); the pool stops growing there.
    maxPods: maxPods(byType, { prefixDelegation: pool.prefixDelegation }),
    maxAddressesPerInstance: limits.maxAddressesPerInstance,
  };
}

/** Addresses the node can hand to pods at most. */
export function addressCapacity(c: PoolCapacity, prefixDelegation: boolean): number {
  const perInterface = (c.ipv4PerInterface - 1) * (prefixDelegation ? PREFIX_SIZE : 1);
  let cap = c.maxInterfaces * perInterface;
  if (c.maxAddressesPerInstance !== undefined)
    cap = Math.min(cap, c.maxAddressesPerInstance - c.maxInterfaces);
  return Math.min(cap, c.maxPods);
}
