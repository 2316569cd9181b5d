// The incumbent's side of the cloud in the fleet simulation: what the real AWS VPC CNI (v1.23.x) does
// around its pool loop, read in aws/amazon-vpc-cni-k8s at b52188387f (v1.23.1; reference aws-vpc-cni.md
// 1.2, 3.4, 4.1, 4.4) and in aws/aws-sdk-go-v2. The pool formulas and the 5 s loop stay the engine's
// comparison mode (TIDEPOOL_COMPARISON_MODE=incumbent); this file gives it the incumbent's EC2 traffic:
//
// - Every EC2 call goes through the AWS SDK for Go v2's standard retryer, call by call, as ipamd's EC2
//   client is built by config.LoadDefaultConfig with no retryer of its own (pkg/awsutils/awsutils.go New):
//   3 attempts (retry.DefaultMaxAttempts), retried on throttling codes (RequestLimitExceeded is in
//   DefaultThrottleErrorCodes) and 5xx; before attempt n+1 it waits random × 2^n seconds, capped at 20 s
//   (aws/retry/jitter_backoff.go ExponentialJitterBackoff with a 1 s base; aws-sdk-go-v2 PR #3400 confirms
//   the 1,000 ms base of today's standard mode); a retry takes 5 tokens of a 500-token quota per client
//   and a success without retry gives 1 back (standard.go, DefaultRetryRateTokens / DefaultRetryCost /
//   DefaultNoRetryIncrement). Full jitter is the reading in the SDK docs and in issue #3091; one stored
//   version of jitter_backoff.go adds the random second instead (random + 2^n s), which would be slower
//   still: we model the faster one.
// - nodeInit (ipamd.go) learns the instance from IMDS (no EC2 call), lists its ENIs once with
//   DescribeNetworkInterfaces (DescribeAllENIs) and tags the primary ENI with CreateTags (TagENI: the
//   instance-id tag is missing on a new node). Later reconciles read IMDS and call EC2 only when IMDS and
//   the datastore disagree (nodeIPPoolReconcile): here every later listing reads the cloud's truth with
//   no call, in the incumbent's favour.
// - A new ENI (tryAllocateENI → AllocENI, awsutils.go): CreateNetworkInterface with its addresses or
//   prefixes and tags inline → DescribeInstances (awsGetFreeDeviceNumber) → AttachNetworkInterface →
//   ModifyNetworkInterfaceAttribute(DeleteOnTermination=true). If the attach fails the new ENI is deleted
//   (deleteENI: 12 tries, backoff from 500 ms ×2, +15 % jitter); if the modify fails it is detached and
//   deleted (FreeENI: 2 s after the detach). Then WaitForENIAndIPsAttached polls IMDS (first at once,
//   then after 100 ms, ×2, +15 % jitter, 12 tries) until the ENI shows a secondary address or prefix; the
//   ENI appears in IMDS a lognormal time after the attach (median 1 s, 5 s at p95: cloud-api-figures.md 7,
//   "Attach → ENI in IMDS", median unverified), clamped to 10 s (the > 60 s tail is left out).
//   Only then are its addresses in the datastore. Subnet discovery's DescribeSubnets before the create
//   (GetVpcSubnets) is made by the engine's attach action itself.
// Left out, for both Tidepool and the incumbent: the wait for the new ENI's link in the guest (median
// 0.5 s) before host setup, and the kubelet's own node-readiness cadence.
import { ThrottledError, TransientError } from '../../../providers/errors.js';
import type { AttachRequest, CloudInterface, NodeInfo } from '../../../providers/types.js';
import type { Clock } from '../../../providers/clock.js';
import type { SimCloud } from '../../../providers/sim/cloud.js';
import type { SimEc2 } from '../../../providers/sim/api.js';
import { SimNodeProvider, toCloudInterface, toNodeInfo } from '../../../providers/sim/node.js';
import { describeInstance, describeInterface } from '../../../providers/sim/views.js';
import { RetryQuota } from '../../../ipamd/cloud/retry-quota.js';

/** aws-sdk-go-v2 aws/retry/standard.go and jitter_backoff.go. */
export const GO_SDK_RETRY = { maxAttempts: 3, baseMs: 1000, maxBackoffMs: 20_000 };

/** The delay before attempt `attempt + 1` (attempt counts from 1): random × 2^attempt s, capped. */
export function goSdkBackoffMs(attempt: number, random: number): number {
  const maxAttempts = Math.log2(GO_SDK_RETRY.maxBackoffMs / GO_SDK_RETRY.baseMs);
  if (attempt > Math.floor(maxAttempts)) return GO_SDK_RETRY.maxBackoffMs;
  return random * 2 ** attempt * GO_SDK_RETRY.baseMs;
}

/** Retryable for the Go SDK's standard mode: throttling codes and 5xx (not InUse, a 400). */
export function goSdkRetryable(err: unknown): boolean {
  return err instanceof ThrottledError || err instanceof TransientError;
}

export interface SdkStats {
  retries: number;
  /** Calls that failed after their last attempt (or with the retry quota empty). */
  failed: number;
}

/** The Go SDK's standard retryer around one EC2 client (one per ipamd). */
export function withGoSdkRetry(ec2: SimEc2, clock: Clock, random: () => number, stats?: SdkStats): SimEc2 {
  const quota = new RetryQuota();
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    let retried = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await fn();
        quota.succeeded(retried);
        return r;
      } catch (err) {
        if (!goSdkRetryable(err) || attempt >= GO_SDK_RETRY.maxAttempts || !quota.take(true)) {
          if (stats) stats.failed++;
          throw err;
        }
        retried = true;
        if (stats) stats.retries++;
        await clock.sleep(goSdkBackoffMs(attempt, random()));
      }
    }
  };
  const wrapped = {} as Record<string, unknown>;
  for (const m of [
    'describeInstances',
    'describeNetworkInterfaces',
    'describeSubnets',
    'createNetworkInterface',
    'attachNetworkInterface',
    'detachNetworkInterface',
    'deleteNetworkInterface',
    'assignPrivateIpAddresses',
    'unassignPrivateIpAddresses',
    'createTags',
    'modifyNetworkInterfaceAttribute',
  ] as const) {
    const f = (ec2[m] as (req: unknown) => Promise<unknown>).bind(ec2);
    wrapped[m] = (req: unknown) => call(() => f(req));
  }
  return wrapped as unknown as SimEc2;
}

/** retry.NewSimpleBackoff(min, max, jitter, ×2) as NWithBackoff sleeps it: the i-th sleep (from 0). */
export function simpleBackoffMs(minMs: number, maxMs: number, jitter: number, i: number, random: number) {
  const d = Math.min(maxMs, minMs * 2 ** i);
  return d + Math.floor(random * d * jitter);
}

/** When IMDS shows a new ENI after its attach: lognormal, median 1 s, p95 5 s, in [100 ms, 10 s]. */
export function imdsLagMs(u1: number, u2: number): number {
  const z = Math.sqrt(-2 * Math.log(Math.max(u1, 1e-12))) * Math.cos(2 * Math.PI * u2);
  const sigma = Math.log(5) / 1.645;
  return Math.min(10_000, Math.max(100, Math.round(1000 * Math.exp(sigma * z))));
}

/** How long WaitForENIAndIPsAttached takes for an ENI that IMDS shows `lagMs` after the attach. */
export function imdsWaitMs(lagMs: number, random: () => number): number {
  let t = 0;
  for (let i = 0; i < 12; i++) {
    if (t >= lagMs) return t;
    t += simpleBackoffMs(100, 60_000, 0.15, i, random());
  }
  return t;
}

export interface IncumbentProviderOptions {
  cloud: SimCloud;
  instanceId: string;
  random: () => number;
  stats?: SdkStats;
}

/** One node's EC2 traffic as the AWS VPC CNI makes it (see the header). */
export class IncumbentSimProvider extends SimNodeProvider {
  private readonly cloud: SimCloud;
  private readonly random: () => number;
  private readonly sdk: SimEc2;
  private listed = false;

  constructor(o: IncumbentProviderOptions) {
    const sdk = withGoSdkRetry(o.cloud.ec2, o.cloud.clock, o.random, o.stats);
    super(sdk, { instanceId: o.instanceId, clock: o.cloud.clock });
    this.cloud = o.cloud;
    this.random = o.random;
    this.sdk = sdk;
  }

  /** From IMDS (awsutils.New, initWithEC2Metadata): no EC2 call. */
  override async describeNode(): Promise<NodeInfo> {
    const rec = this.cloud.topology.instances.get(this.instanceId);
    if (!rec) throw new Error(`incumbent: no instance ${this.instanceId}`);
    return toNodeInfo(describeInstance(this.cloud.topology, rec));
  }

  /** First: DescribeAllENIs + TagENI of the primary; later: IMDS (the truth here, no call). */
  override async listInterfaces(): Promise<CloudInterface[]> {
    if (!this.listed) {
      const views = await this.sdk.describeNetworkInterfaces({ instanceId: this.instanceId });
      const primary = this.cloud.topology.instances.get(this.instanceId)!.primaryInterfaceId;
      await this.sdk.createTags({
        resourceIds: [primary],
        tags: { 'node.k8s.amazonaws.com/instance_id': this.instanceId },
      });
      this.listed = true;
      return views.map(toCloudInterface);
    }
    const now = this.cloud.clock.now();
    return this.cloud.topology
      .attachedTo(this.instanceId)
      .filter((r) => r.attachment)
      .map((r) => toCloudInterface(describeInterface(this.cloud.topology, r, now, 0)));
  }

  /** AllocENI + WaitForENIAndIPsAttached (see the header). */
  override async attachInterface(req: AttachRequest): Promise<CloudInterface> {
    const clock = this.cloud.clock;
    const created = await this.sdk.createNetworkInterface({
      subnetId: req.subnetId,
      securityGroups: req.securityGroups.length ? req.securityGroups : undefined,
      description: `aws-K8S-${this.instanceId}`,
      secondaryAddressCount: req.addresses || undefined,
      prefixCount: req.prefixes || undefined,
      tags: { ...req.tags, 'node.k8s.amazonaws.com/instance_id': this.instanceId },
    });
    let attachmentId: string;
    try {
      const [inst] = await this.sdk.describeInstances({ instanceIds: [this.instanceId] });
      void inst; // the free device index: the engine chose the same lowest free one
      attachmentId = (
        await this.sdk.attachNetworkInterface({
          interfaceId: created.id,
          instanceId: this.instanceId,
          deviceIndex: req.deviceIndex,
        })
      ).attachmentId;
    } catch (err) {
      await this.retried(500, () => this.sdk.deleteNetworkInterface({ interfaceId: created.id }));
      throw err;
    }
    try {
      await this.sdk.modifyNetworkInterfaceAttribute({ interfaceId: created.id, deleteOnTermination: true });
    } catch (err) {
      await this.retried(200, () => this.sdk.detachNetworkInterface({ interfaceId: created.id }));
      await clock.sleep(2000);
      await this.retried(500, () => this.sdk.deleteNetworkInterface({ interfaceId: created.id }));
      throw err;
    }
    void attachmentId;
    await clock.sleep(imdsWaitMs(imdsLagMs(this.random(), this.random()), this.random));
    return { ...toCloudInterface(created), status: 'attached', deviceNumber: req.deviceIndex };
  }

  /** retry.NWithBackoff(NewSimpleBackoff(minMs, 1 min, 0.15, 2), 12, fn); errors after that are dropped. */
  private async retried(minMs: number, fn: () => Promise<unknown>): Promise<void> {
    for (let i = 0; i < 12; i++) {
      try {
        await fn();
        return;
      } catch {
        if (i < 11) await this.cloud.clock.sleep(simpleBackoffMs(minMs, 60_000, 0.15, i, this.random()));
      }
    }
  }
}
