// The fleet simulation (test/bench/lib/fleet-run.ts) is deterministic for a seed: the same seed gives the
// same run, call for call; another seed gives another run.
import { describe, expect, test } from '@jest/globals';
import { runFleet, type FleetRunOptions } from '../bench/lib/fleet-run.js';

const options = (seed: number): FleetRunOptions => ({
  mode: { name: 'tidepool', env: {}, budget: () => ({}) },
  seed,
  instanceType: 'm5.xlarge',
  podsPerNode: 20,
  joins: [0, 1_500, 3_000, 9_000, 12_000, 20_000],
  subnetCidr: '10.0.0.0/20',
  occupied: 0,
  durationMs: 90_000,
  sampleMs: 1_000,
});

const fingerprint = (r: Awaited<ReturnType<typeof runFleet>>) => ({
  addressedAt: [...r.addressedAt].sort((a, b) => a - b),
  calls: r.callsByAction,
  throttled: r.throttled,
  failedAdds: r.failedAdds,
  series: r.series,
});

describe('fleet simulation', () => {
  test('the same seed gives the same run; another seed another one', async () => {
    const a = fingerprint(await runFleet(options(14)));
    const b = fingerprint(await runFleet(options(14)));
    const c = fingerprint(await runFleet(options(15)));
    expect(a.addressedAt).toHaveLength(120);
    expect(b).toEqual(a);
    expect(c.addressedAt).not.toEqual(a.addressedAt);
  }, 120_000);
});
