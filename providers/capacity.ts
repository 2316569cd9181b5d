// Instance-type capacity and max-pods (ARCHITECTURE section 4, reference aws-vpc-cni.md 3.10).
// Limits come from the generated table (scripts/gen-instance-types.py, from moto's DescribeInstanceTypes
// dump); a provider that can ask the cloud's instance-type API may prefer that and fall back to this.

import { instanceTypes, instanceTypeSource } from './instance-types.generated.js';
import type { InstanceLimits } from './types.js';

export class UnknownInstanceTypeError extends Error {
  constructor(readonly instanceType: string) {
    super(
      `unknown instance type "${instanceType}": it is not in the shipped table (moto ${instanceTypeSource.moto}, ` +
        `data of ${instanceTypeSource.dataDate}); check the spelling (e.g. m5.large) or regenerate the table ` +
        `with scripts/gen-instance-types.py`,
    );
    this.name = 'UnknownInstanceTypeError';
  }
}

export function isKnownInstanceType(instanceType: string): boolean {
  return Object.prototype.hasOwnProperty.call(instanceTypes, instanceType);
}

/** Capacity of an instance type; throws UnknownInstanceTypeError for a type not in the table. */
export function instanceLimits(instanceType: string): InstanceLimits {
  if (!isKnownInstanceType(instanceType)) throw new UnknownInstanceTypeError(instanceType);
  const [maxInterfaces, ipv4PerInterface, hypervisor, bareMetal, vcpus] = instanceTypes[instanceType];
  return { instanceType, maxInterfaces, ipv4PerInterface, hypervisor, bareMetal: bareMetal === 1, vcpus };
}

export interface MaxPodsOptions {
  prefixDelegation: boolean;
  /** MAX_ENI: caps the interfaces counted (the AWS CNI applies it to capacity, not to kubelet max-pods). */
  maxEni?: number;
}

/** Addresses per /28 prefix (reference aws-vpc-cni.md 3.10). */
export const PREFIX_SIZE = 16;

/**
 * Max pods for a node of these limits.
 * - secondary-IP mode: ENIs × (IPs − 1) + 2 (the +2 covers hostNetwork pods; eni-max-pods.txt);
 * - prefix mode: ENIs × ((IPs − 1) × 16) + 2, capped at 110 for ≤ 30 vCPUs and 250 above
 *   (amazon-eks-ami max-pods-calculator.sh).
 * Worked numbers: m5.large 29, t3.medium 17, m5.4xlarge 234, m5.24xlarge 737.
 */
export function maxPods(limits: InstanceLimits, opts: MaxPodsOptions): number {
  let enis = limits.maxInterfaces;
  if (opts.maxEni !== undefined && opts.maxEni > 0) enis = Math.min(enis, opts.maxEni);
  const slots = limits.ipv4PerInterface - 1;
  if (!opts.prefixDelegation) {
    const byInterfaces = enis * slots + 2;
    // Azure-style per-VM cap on addresses (256); the primary address of each NIC is not a pod address.
    return limits.maxAddressesPerInstance === undefined
      ? byInterfaces
      : Math.min(byInterfaces, limits.maxAddressesPerInstance - enis + 2);
  }
  const raw = enis * slots * PREFIX_SIZE + 2;
  return Math.min(raw, limits.vcpus > 30 ? 250 : 110);
}
