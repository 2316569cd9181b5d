// The node's capacity as the pool engine sees it: instance limits, MAX_ENI and max pods.

import type { Settings } from '../../config/settings.js';
import { maxPods } from '../../providers/capacity.js';
import type { InstanceLimits } from '../../providers/types.js';
import { PREFIX_SIZE, type PoolCapacity } from './model.js';

export function poolCapacity(limits: InstanceLimits, pool: Settings['pool']): PoolCapacity {
  const maxInterfaces = pool.maxEni > 0 ? Math.min(limits.maxInterfaces, pool.maxEni) : limits.maxInterfaces;
  return {
    instanceType: limits.instanceType,
    maxInterfaces,
    ipv4PerInterface: limits.ipv4PerInterface,
    // kubelet's max pods ignores MAX_ENI (reference aws-vpc-cni.md 3.10); the pool stops growing there.
    maxPods: maxPods(limits, { prefixDelegation: pool.prefixDelegation }),
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
