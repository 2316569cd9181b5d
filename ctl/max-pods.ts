// `tidepoolctl max-pods <instance-type> [--prefix-delegation] [--max-eni N] [--explain]`: the kubelet
// max-pods figure for an instance type, from the shipped instance-type table (providers/capacity.ts).
import { instanceLimits, maxPods, PREFIX_SIZE, UnknownInstanceTypeError } from '../providers/capacity.js';
import { UsageError, type Io } from './io.js';

export function runMaxPods(argv: string[], io: Io): number {
  let instanceType: string | undefined;
  let prefixDelegation = false;
  let explain = false;
  let maxEni: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--prefix-delegation') prefixDelegation = true;
    else if (a === '--explain') explain = true;
    else if (a === '--max-eni' || a.startsWith('--max-eni=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 100)
        throw new UsageError(
          `--max-eni: must be an integer between 1 and 100 (got ${JSON.stringify(v ?? '')})`,
        );
      maxEni = Number(v);
    } else if (a.startsWith('-')) throw new UsageError(`max-pods: unknown option ${a}`);
    else if (instanceType === undefined) instanceType = a;
    else throw new UsageError(`max-pods: unexpected argument ${a}`);
  }
  if (!instanceType)
    throw new UsageError('max-pods: the instance type is required, e.g. tidepoolctl max-pods m5.large');
  let limits;
  try {
    limits = instanceLimits(instanceType);
  } catch (err) {
    if (err instanceof UnknownInstanceTypeError) throw new UsageError(err.message);
    throw err;
  }
  const pods = maxPods(limits, { prefixDelegation, maxEni });
  io.out(String(pods));
  if (explain) {
    const enis = maxEni ? Math.min(maxEni, limits.maxInterfaces) : limits.maxInterfaces;
    const slots = limits.ipv4PerInterface - 1;
    io.out(
      prefixDelegation
        ? `${instanceType}: ${enis} interfaces × (${limits.ipv4PerInterface} − 1) slots × ${PREFIX_SIZE} addresses per /28 + 2 = ` +
            `${enis * slots * PREFIX_SIZE + 2}, capped at ${limits.vcpus > 30 ? 250 : 110} (${limits.vcpus} vCPUs)`
        : `${instanceType}: ${enis} interfaces × (${limits.ipv4PerInterface} − 1) addresses + 2 = ${pods}`,
    );
  }
  return 0;
}
