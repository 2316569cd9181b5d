// The incumbent's EC2 side in the fleet simulation (test/bench/lib/incumbent-cloud.ts) and the kubelet's
// retry cadence (test/bench/lib/kubelet-retry.ts): the figures read in the real sources, as tables, and
// the call sequence of one new ENI on the sim.
import { describe, expect, test } from '@jest/globals';
import { VirtualClock } from '../../providers/clock.js';
import { SimCloud } from '../../providers/sim/cloud.js';
import {
  goSdkBackoffMs,
  goSdkRetryable,
  imdsLagMs,
  imdsWaitMs,
  IncumbentSimProvider,
  simpleBackoffMs,
  withGoSdkRetry,
  type SdkStats,
} from '../bench/lib/incumbent-cloud.js';
import { retryDelayMs } from '../bench/lib/kubelet-retry.js';
import { ThrottledError, InUseError, TransientError } from '../../providers/errors.js';

describe('Go SDK standard retryer', () => {
  test.each([
    // attempt, random, delay before the next attempt (ms): random × 2^attempt s, 20 s from attempt 5 on
    [1, 0, 0],
    [1, 0.5, 1000],
    [1, 0.999, 1998],
    [2, 0.5, 2000],
    [4, 1, 16_000],
    [5, 0.1, 20_000],
    [9, 0, 20_000],
  ])('attempt %i, random %f → %i ms', (attempt, random, ms) => {
    expect(Math.round(goSdkBackoffMs(attempt, random))).toBe(ms);
  });

  test.each([
    [new ThrottledError('RequestLimitExceeded', 'RequestLimitExceeded', 'X'), true],
    [new TransientError('InternalError', 'InternalError', 'X'), true],
    [new InUseError('in use', 'InvalidNetworkInterface.InUse', 'X'), false],
    [new Error('other'), false],
  ])('%s retryable: %s', (err, yes) => {
    expect(goSdkRetryable(err)).toBe(yes);
  });

  test('three attempts, then the throttle reaches the caller; the waits follow the backoff', async () => {
    const clock = new VirtualClock(0);
    const cloud = new SimCloud({ clock, throttle: { CreateTags: { capacity: 1, refillPerSec: 0.001 } } });
    const stats: SdkStats = { retries: 0, failed: 0 };
    const ec2 = withGoSdkRetry(cloud.ec2, clock, () => 0.5, stats);
    const inst = cloud.launchInstance({ instanceType: 'm5.xlarge' });
    await cloud.ec2.createTags({ resourceIds: [inst.primaryInterfaceId], tags: { first: 'x' } }); // the one token
    let done = false;
    const p = ec2
      .createTags({ resourceIds: [inst.primaryInterfaceId], tags: { a: 'b' } })
      .catch((e: unknown) => e)
      .finally(() => (done = true));
    await clock.advance(2_999); // 1 s after attempt 1, 2 s after attempt 2
    expect(done).toBe(false);
    await clock.advance(2);
    expect(await p).toBeInstanceOf(ThrottledError);
    expect(stats).toEqual({ retries: 2, failed: 1 });
    expect(cloud.callLog().filter((c) => c.action === 'CreateTags')).toHaveLength(4);
  });
});

describe('ipamd retry.SimpleBackoff and the IMDS wait', () => {
  test.each([
    // min, i, random, sleep (ms): min × 2^i plus up to 15 % jitter, capped at 1 min
    [100, 0, 0, 100],
    [100, 0, 0.999, 114],
    [100, 3, 0, 800],
    [500, 1, 0.5, 1075],
    [100, 10, 0, 60_000],
  ])('min %i, sleep %i, random %f → %i ms', (min, i, random, ms) => {
    expect(simpleBackoffMs(min, 60_000, 0.15, i, random)).toBe(ms);
  });

  test.each([
    // IMDS lag → first poll that sees the ENI (polls at 0, 100, 300, 700, 1500, 3100, 6300 ms without jitter)
    [0, 0],
    [50, 100],
    [1000, 1500],
    [1500, 1500],
    [5000, 6300],
  ])('lag %i ms → found after %i ms', (lag, ms) => {
    expect(imdsWaitMs(lag, () => 0)).toBe(ms);
  });

  test('the lag is a lognormal of median 1 s, kept in [100 ms, 10 s]', () => {
    expect(imdsLagMs(Math.exp(-0.5 * 0), 0.25)).toBe(1000); // z = 0
    expect(imdsLagMs(1e-12, 0)).toBe(10_000);
    expect(imdsLagMs(1e-12, 0.5)).toBe(100);
  });
});

describe('the incumbent provider on the sim', () => {
  test('nodeInit lists once and tags the primary; a new ENI is Create, DescribeInstances, Attach, Modify, then the IMDS wait', async () => {
    const clock = new VirtualClock(0);
    const cloud = new SimCloud({ clock, throttle: false });
    const inst = cloud.launchInstance({ instanceType: 'm5.xlarge' });
    const p = new IncumbentSimProvider({ cloud, instanceId: inst.id, random: () => 0 });
    const node = await p.describeNode();
    expect(cloud.callLog()).toHaveLength(0); // IMDS, not EC2
    await p.listInterfaces();
    await p.listInterfaces(); // later reconciles read IMDS
    expect(cloud.callLog().map((c) => c.action)).toEqual(['DescribeNetworkInterfaces', 'CreateTags']);
    let done = false;
    const attached = p
      .attachInterface({
        subnetId: node.subnetId,
        securityGroups: node.securityGroups,
        deviceIndex: 1,
        addresses: 14,
        clientToken: 't1',
        tags: {},
      })
      .finally(() => (done = true));
    await clock.advance(0);
    await clock.advance(0);
    expect(cloud.callLog().map((c) => c.action)).toEqual([
      'DescribeNetworkInterfaces',
      'CreateTags',
      'CreateNetworkInterface',
      'DescribeInstances',
      'AttachNetworkInterface',
      'ModifyNetworkInterfaceAttribute',
    ]);
    // imdsLagMs(0, 0) is the 10 s clamp: found on the poll at 12.7 s (0.1+0.2+…+6.4 s)
    await clock.advance(12_600);
    expect(done).toBe(false);
    await clock.advance(200);
    const eni = await attached;
    expect(eni).toMatchObject({ status: 'attached', deviceNumber: 1 });
    expect(eni.addresses).toHaveLength(14);
  });

  test('a failed attach deletes the new ENI, as AllocENI does', async () => {
    const clock = new VirtualClock(0);
    const cloud = new SimCloud({
      clock,
      throttle: { AttachNetworkInterface: { capacity: 1, refillPerSec: 0.001 } },
    });
    const inst = cloud.launchInstance({ instanceType: 'm5.xlarge' });
    const p = new IncumbentSimProvider({ cloud, instanceId: inst.id, random: () => 0 });
    const node = await p.describeNode();
    const other = cloud.launchInstance({ instanceType: 'm5.xlarge' });
    const spare = await cloud.ec2.createNetworkInterface({ subnetId: node.subnetId });
    await cloud.ec2.attachNetworkInterface({ interfaceId: spare.id, instanceId: other.id, deviceIndex: 1 });
    const r = p
      .attachInterface({
        subnetId: node.subnetId,
        securityGroups: [],
        deviceIndex: 1,
        addresses: 14,
        clientToken: 't',
        tags: {},
      })
      .catch((e: unknown) => e);
    for (let i = 0; i < 30; i++) await clock.advance(1000);
    expect(await r).toBeInstanceOf(ThrottledError);
    const actions = cloud.callLog().map((c) => c.action);
    expect(actions.filter((a) => a === 'AttachNetworkInterface')).toHaveLength(1 + 3); // the other node's, then 3 attempts
    expect(actions).toContain('DeleteNetworkInterface');
    expect(actions).not.toContain('ModifyNetworkInterfaceAttribute');
    expect(cloud.inspect().interfaces.filter((i) => i.status === 'available')).toHaveLength(0);
    expect(cloud.inspect().interfaces.filter((i) => i.attachment?.instanceId === inst.id)).toHaveLength(1);
  });
});

describe('kubelet retry cadence', () => {
  test.each([
    // now, backoff, tick phase → wait until the first 1 s sync tick at or after now + backoff
    [0, 10_000, 0, 10_000],
    [0, 10_400, 0, 11_000],
    [300, 10_000, 0, 10_700],
    [0, 10_000, 250, 10_250],
    [0, 12_300, 250, 13_250],
  ])('now %i, backoff %i, phase %i → %i ms', (now, backoff, phase, wait) => {
    expect(retryDelayMs(now, backoff, { tickPhaseMs: phase })).toBe(wait);
  });
});
