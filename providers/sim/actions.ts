// The EC2 actions the sim serves, with their default throttling buckets and latencies.
// Figures: /work/shared/reference/cloud-api-figures.md, sections 1.3 (buckets, from the EC2 throttling
// doc [doc]) and 7 (values for a simulator; latency medians are fitted to few public points, calibrate
// before quoting a result).

import type { BucketSpec } from '../token-bucket.js';

export type { BucketSpec };

export const EC2_ACTIONS = [
  'DescribeInstances',
  'DescribeNetworkInterfaces',
  'DescribeSubnets',
  'CreateNetworkInterface',
  'AttachNetworkInterface',
  'DetachNetworkInterface',
  'DeleteNetworkInterface',
  'AssignPrivateIpAddresses',
  'UnassignPrivateIpAddresses',
  'CreateTags',
  'ModifyNetworkInterfaceAttribute',
] as const;
export type Ec2Action = (typeof EC2_ACTIONS)[number];

export function isEc2Action(s: string): s is Ec2Action {
  return (EC2_ACTIONS as readonly string[]).includes(s);
}

/**
 * Per-action token buckets, shared by every instance of the account and Region (one SimCloud).
 * Describe* called without a filter uses the smaller "unfiltered and unpaginated" bucket (section 1.2),
 * kept under the key `<Action>:unfiltered`.
 */
export const DEFAULT_BUCKETS: Record<string, BucketSpec> = {
  // section 1.3: uncategorized ENI actions, 100 / 5 per s [doc]
  CreateNetworkInterface: { capacity: 100, refillPerSec: 5 },
  DeleteNetworkInterface: { capacity: 100, refillPerSec: 5 },
  AssignPrivateIpAddresses: { capacity: 100, refillPerSec: 5 },
  UnassignPrivateIpAddresses: { capacity: 100, refillPerSec: 5 },
  // section 1.3: CreateTags 100 / 10 per s [doc]
  CreateTags: { capacity: 100, refillPerSec: 10 },
  // section 1.3: ModifyNetworkInterfaceAttribute, uncategorized 100 / 5 per s [doc]
  ModifyNetworkInterfaceAttribute: { capacity: 100, refillPerSec: 5 },
  // section 1.3: Attach/Detach are not listed, so the default mutating bucket 50 / 5 per s [doc]
  AttachNetworkInterface: { capacity: 50, refillPerSec: 5 },
  DetachNetworkInterface: { capacity: 50, refillPerSec: 5 },
  // section 1.2/1.3: non-mutating 100 / 20 per s when filtered; 50 / 10 per s unfiltered [doc]
  DescribeInstances: { capacity: 100, refillPerSec: 20 },
  DescribeNetworkInterfaces: { capacity: 100, refillPerSec: 20 },
  DescribeSubnets: { capacity: 100, refillPerSec: 20 },
  'DescribeInstances:unfiltered': { capacity: 50, refillPerSec: 10 },
  'DescribeNetworkInterfaces:unfiltered': { capacity: 50, refillPerSec: 10 },
};

/** A lognormal latency: median and sigma of ln(ms); clamped to [minMs, maxMs]. A number is a fixed delay. */
export interface LatencySpec {
  medianMs: number;
  sigma: number;
  minMs?: number;
  maxMs?: number;
}
export type LatencyProfile = Partial<Record<Ec2Action, LatencySpec | number>>;

/** sigma such that `highMs` is the p95 of a lognormal of median `medianMs`. */
function sigmaForP95(medianMs: number, highMs: number): number {
  return Math.log(highMs / medianMs) / 1.645;
}

/** Section 7 medians and ranges; the range's upper end is taken as p95, the tail as the clamp. */
export const REALISTIC_LATENCY: Record<Ec2Action, LatencySpec> = {
  // p50 150 ms, p99 200 ms (cilium PR #44539) [measured]; 2.326 = z of p99
  DescribeNetworkInterfaces: { medianMs: 150, sigma: Math.log(200 / 150) / 2.326, minMs: 75, maxMs: 1000 },
  DescribeSubnets: { medianMs: 150, sigma: Math.log(200 / 150) / 2.326, minMs: 75, maxMs: 1000 },
  // no published figure: modelled like DescribeNetworkInterfaces [unverified]
  DescribeInstances: { medianMs: 150, sigma: Math.log(200 / 150) / 2.326, minMs: 75, maxMs: 1000 },
  // median 0.4 s, 0.2–1.5 s (amazon-vpc-cni-k8s #732, #1872) [issue]
  CreateNetworkInterface: { medianMs: 400, sigma: sigmaForP95(400, 1500), minMs: 200, maxMs: 3000 },
  // median 0.75 s, 0.4–1 s, tail 2.5 s (DataDog #10143) [issue]
  AttachNetworkInterface: { medianMs: 750, sigma: sigmaForP95(750, 1000), minMs: 400, maxMs: 2500 },
  // no published figure: modelled like ModifyNetworkInterfaceAttribute, mean 0.34 s [unverified]
  DetachNetworkInterface: { medianMs: 340, sigma: sigmaForP95(340, 1000), minMs: 150, maxMs: 2500 },
  // no published figure: modelled like CreateNetworkInterface [unverified]
  DeleteNetworkInterface: { medianMs: 400, sigma: sigmaForP95(400, 1500), minMs: 200, maxMs: 3000 },
  // median 0.5 s, 0.25–1 s (amazon-vpc-cni-k8s #3480, DataDog #10143) [issue]; prefixes alike [unverified]
  AssignPrivateIpAddresses: { medianMs: 500, sigma: sigmaForP95(500, 1000), minMs: 250, maxMs: 2000 },
  // median 0.35 s, 0.25–1 s (DataDog #10143) [issue]
  UnassignPrivateIpAddresses: { medianMs: 350, sigma: sigmaForP95(350, 1000), minMs: 250, maxMs: 2000 },
  // no published figure: modelled like ModifyNetworkInterfaceAttribute [unverified]
  CreateTags: { medianMs: 340, sigma: sigmaForP95(340, 1000), minMs: 150, maxMs: 2000 },
  // mean 0.34 s over 6 calls (DataDog/integrations-core #10143) [issue]
  ModifyNetworkInterfaceAttribute: { medianMs: 340, sigma: sigmaForP95(340, 1000), minMs: 150, maxMs: 2500 },
};

/** A throttled call is refused before any work; EC2 publishes no figure for how fast [unverified]. */
export const REALISTIC_THROTTLE_REJECT_MS = 30;

/** Section 7: "Detach → delete allowed: 3 s, with 'in use' errors before that" (amazon-vpc-cni-k8s #732). */
export const REALISTIC_DETACH_MS = 3000;

/** Section 7: "Assign → visible in Describe*: 1 s, 0.3–5 s" (cilium #36428) [issue]. */
export const REALISTIC_VISIBILITY_LAG_MS = 1000;
