// Instance capacity: EC2's DescribeInstanceTypes (reference aws-vpc-cni.md 3.9), falling back to the shipped
// table (providers/capacity.ts) when the call fails or the type is unknown to EC2's answer. Neither
// moto nor LocalStack enforces these limits, so Tidepool's pool engine does, from this object.
import {
  DescribeInstanceTypesCommand,
  type DescribeInstanceTypesCommandOutput,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { instanceLimits, isKnownInstanceType } from '../capacity.js';
import type { Hypervisor, InstanceLimits } from '../types.js';
import type { Ec2, ProviderLog } from './ec2.js';

export async function fetchInstanceLimits(
  ec2: Ec2,
  instanceType: string,
  log: ProviderLog,
): Promise<InstanceLimits> {
  try {
    const out = await ec2.send<DescribeInstanceTypesCommandOutput>(
      'DescribeInstanceTypes',
      new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] }),
    );
    const it = out.InstanceTypes?.[0];
    const net = it?.NetworkInfo;
    if (it && net?.MaximumNetworkInterfaces && net.Ipv4AddressesPerInterface) {
      // The default network card's limit is what a node can attach without multi-card setup.
      const defaultCard = net.DefaultNetworkCardIndex ?? 0;
      const card = net.NetworkCards?.find((c) => (c.NetworkCardIndex ?? 0) === defaultCard);
      const hv = it.Hypervisor;
      return {
        instanceType,
        maxInterfaces: card?.MaximumNetworkInterfaces ?? net.MaximumNetworkInterfaces,
        ipv4PerInterface: net.Ipv4AddressesPerInterface,
        hypervisor: (hv === 'nitro' || hv === 'xen' ? hv : 'unknown') as Hypervisor,
        bareMetal: it.BareMetal ?? false,
        vcpus: it.VCpuInfo?.DefaultVCpus ?? 0,
      };
    }
    log.warn({ instanceType }, 'DescribeInstanceTypes returned no network limits; using the shipped table');
  } catch (err) {
    if (!isKnownInstanceType(instanceType)) throw err;
    log.warn(
      { instanceType, err: (err as Error).message },
      'DescribeInstanceTypes failed; using the shipped table',
    );
  }
  return instanceLimits(instanceType);
}
