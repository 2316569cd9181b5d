// Tables for the benchmark's model of Azure CNI's pool monitor (test/bench/cns-pool-monitor.ts), with the
// rules and numbers of reference azure-cni-and-cilium-ipam.md A2 (CNS IPAM v1): B = 16, minFree 8,
// maxFree 24; scale up to the next batch multiple when requested − assigned < 8; release
// requested mod B (or B) when secondaries − assigned − pendingRelease ≥ 24; clampScaler's bounds.
import { describe, expect, test } from '@jest/globals';
import { AKS_SCALER, clampScaler, cnsV1Step, type CnsPoolState } from '../bench/cns-pool-monitor.js';

const st = (
  requested: number,
  assigned: number,
  secondaries = requested,
  pendingRelease = 0,
): CnsPoolState => ({
  requested,
  assigned,
  secondaries,
  pendingRelease,
});

describe('CNS v1 pool monitor, AKS scaler (16, 50 %, 150 %)', () => {
  test.each<[string, CnsPoolState, ReturnType<typeof cnsV1Step>]>([
    ['a new node: 16 requested, none used', st(16, 0), { kind: 'none' }],
    ['8 free expected: no scale-up (not below 8)', st(16, 8), { kind: 'none' }],
    ['7 free expected: one batch more', st(16, 9), { kind: 'grow', requested: 32 }],
    ['growth counts what is requested, not yet on the NIC', st(32, 9, 16), { kind: 'none' }],
    ['unaligned request steps to the next multiple', st(20, 15), { kind: 'grow', requested: 32 }],
    ['clamped at MaxIPCount 250', st(240, 236), { kind: 'grow', requested: 250 }],
    ['at max: no scale-up', st(250, 249), { kind: 'none' }],
    ['23 free: kept (below 24)', st(48, 25), { kind: 'none' }],
    ['24 free: a batch released', st(48, 24), { kind: 'release', count: 16, requested: 32 }],
    ['unaligned: requested mod B released', st(40, 10), { kind: 'release', count: 8, requested: 32 }],
    ['pending release does not count as free', st(48, 30, 64, 16), { kind: 'none' }],
  ])('%s', (_name, state, want) => {
    expect(cnsV1Step(state)).toEqual(want);
  });
});

describe('clampScaler', () => {
  test.each([
    [{ ...AKS_SCALER }, AKS_SCALER],
    [
      { batchSize: 0, requestThresholdPercent: 0, releaseThresholdPercent: 50, maxIpCount: 0 },
      { batchSize: 1, requestThresholdPercent: 1, releaseThresholdPercent: 101, maxIpCount: 250 },
    ],
    [
      { batchSize: 400, requestThresholdPercent: 150, releaseThresholdPercent: 120, maxIpCount: 250 },
      { batchSize: 250, requestThresholdPercent: 100, releaseThresholdPercent: 200, maxIpCount: 250 },
    ],
  ])('%p → %p', (input, want) => {
    expect(clampScaler(input)).toEqual(want);
  });

  test('a subnet-exhausted scaler (B=1): minFree 1, maxFree 2', () => {
    const s = { ...AKS_SCALER, batchSize: 1, requestThresholdPercent: 100, releaseThresholdPercent: 200 };
    expect(cnsV1Step(st(3, 3), s)).toEqual({ kind: 'grow', requested: 4 });
    expect(cnsV1Step(st(4, 2), s)).toEqual({ kind: 'release', count: 1, requested: 3 });
  });
});
