// The pool engine's entry point: (state, demand, settings, now) → actions. Pure: no I/O, no clock.

import type { Settings } from '../../config/settings.js';
import { planAdaptive } from './adaptive-policy.js';
import { planAwsCompatible } from './aws-policy.js';
import { planScarce } from './scarcity-policy.js';
import type { PlanInput, PoolAction, PoolTargets } from './model.js';

/** `scarce` is not configured: the reconciler plans with it while the node's subnet is scarce. */
export type PolicyName = 'aws-compatible' | 'adaptive' | 'incumbent' | 'scarce';

/** The policy in force: the incumbent comparison mode overrides the configured policy. */
export function policyOf(pool: Settings['pool']): Exclude<PolicyName, 'scarce'> {
  return pool.comparisonMode === 'incumbent' ? 'incumbent' : pool.policy;
}

export function targetsOf(pool: Settings['pool']): PoolTargets {
  return {
    warmEniTarget: pool.warmEniTarget,
    warmIpTarget: pool.warmIpTarget,
    minimumIpTarget: pool.minimumIpTarget,
    warmPrefixTarget: pool.warmPrefixTarget,
    prefixDelegation: pool.prefixDelegation,
    cooldownMs: pool.cooldownMs,
  };
}

export function planPool(
  policy: PolicyName,
  input: Omit<PlanInput, 'coolingCountsAsAvailable'>,
): PoolAction[] {
  switch (policy) {
    case 'incumbent':
      return planAwsCompatible({
        ...input,
        demand: { ...input.demand, parked: 0 },
        coolingCountsAsAvailable: true,
      });
    case 'adaptive':
      return planAdaptive({ ...input, coolingCountsAsAvailable: false });
    case 'scarce':
      return planScarce({ ...input, coolingCountsAsAvailable: false });
    default:
      return planAwsCompatible({ ...input, coolingCountsAsAvailable: false });
  }
}
