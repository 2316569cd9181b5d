// VM size capacity (reference cloud-api-figures.md 4 "Capacity"): 256 private addresses per NIC and per
// VM, so extra NICs add no pod capacity; max NICs per size from the Dv5/Dsv5 size page
// (learn.microsoft.com/azure/virtual-machines/dv5-dsv5-series). NICs attach only to a deallocated VM,
// so the pool never plans one: maxInterfaces is the NICs the VM has now, at most the size's limit.
import type { InstanceLimits } from '../types.js';

/** Private IP addresses per NIC and per VM (Azure networking limits). */
export const AZURE_ADDRESSES_PER_NIC = 256;
export const AZURE_ADDRESSES_PER_VM = 256;

/** vCPUs → max NICs, Dv5 and Dsv5 (the two series share the limits). */
const DV5_NICS: Record<number, number> = { 2: 2, 4: 2, 8: 4, 16: 8, 32: 8, 48: 8, 64: 8, 96: 8 };

export class UnknownVmSizeError extends Error {
  constructor(readonly vmSize: string) {
    super(
      `unknown Azure VM size "${vmSize}": Tidepool knows the NIC limits of Standard_D<n>_v5 and ` +
        `Standard_D<n>s_v5 (n = ${Object.keys(DV5_NICS).join(', ')}); check compute.vmSize in IMDS`,
    );
    this.name = 'UnknownVmSizeError';
  }
}

export function isKnownVmSize(vmSize: string): boolean {
  const m = /^Standard_D(\d+)s?_v5$/i.exec(vmSize);
  return !!m && DV5_NICS[Number(m[1])] !== undefined;
}

/**
 * Capacity of a VM of `vmSize` holding `nics` NICs now. ipv4PerInterface is 256 including the NIC's
 * primary; the per-VM cap of 256 applies across all NICs.
 */
export function vmLimits(vmSize: string, nics: number): InstanceLimits {
  const m = /^Standard_D(\d+)s?_v5$/i.exec(vmSize);
  const vcpus = m ? Number(m[1]) : NaN;
  const maxNics = DV5_NICS[vcpus];
  if (maxNics === undefined) throw new UnknownVmSizeError(vmSize);
  return {
    instanceType: vmSize,
    maxInterfaces: Math.max(1, Math.min(nics, maxNics)),
    ipv4PerInterface: AZURE_ADDRESSES_PER_NIC,
    hypervisor: 'unknown',
    bareMetal: false,
    vcpus,
    maxAddressesPerInstance: AZURE_ADDRESSES_PER_VM,
  };
}
