// The fleet simulation (test/bench/lib/fleet-run.ts) is deterministic for a seed: the same seed gives the
// same run, call for call; another seed gives another run.
import { describe, expect, test } from '@jest/globals';
import { generateChurn } from '../bench/lib/churn-workload.js';
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

  test('times from each node launch: a pod is addressed after its node is ready, and no sooner than its node launched', async () => {
    const o = options(14);
    const r = await runFleet(o);
    expect(r.readyAfterLaunchMs).toHaveLength(o.joins.length);
    expect(r.fromLaunchMs).toHaveLength(r.addressedAt.length);
    const firstReady = Math.min(...r.readyAfterLaunchMs);
    for (const ms of r.fromLaunchMs) expect(ms).toBeGreaterThanOrEqual(firstReady);
    // A pod's time from its node's launch is its node's wait plus its own, so never below its own wait.
    const waits = [...r.waitsMs].sort((a, b) => a - b);
    const fromLaunch = [...r.fromLaunchMs].sort((a, b) => a - b);
    fromLaunch.forEach((ms, i) => expect(ms).toBeGreaterThanOrEqual(waits[i]));
    // Every pod of the last node to launch is addressed no sooner than its launch plus that time.
    const lastJoin = Math.max(...o.joins);
    expect(Math.max(...r.addressedAt)).toBeGreaterThanOrEqual(lastJoin + Math.min(...r.fromLaunchMs));
  }, 120_000);

  test('the churn phase replays the seeded workload of each node after the scale-out, with its own figures', async () => {
    const churnOptions = (seed: number): FleetRunOptions => ({
      ...options(seed),
      durationMs: 150_000,
      churn: {
        startMs: 60_000,
        durationMs: 60_000,
        events: (n) => generateChurn({ seed: seed * 1000 + n, durationMs: 60_000, maxPods: 8 }).events,
      },
    });
    const a = await runFleet(churnOptions(14));
    const b = await runFleet(churnOptions(14));
    const created = [0, 1, 2, 3, 4, 5]
      .map((n) => generateChurn({ seed: 14_000 + n, durationMs: 60_000, maxPods: 8 }).events)
      .flat()
      .filter((e) => e.op === 'add').length;
    expect(a.churn!.pods).toBe(created);
    expect(a.churn!.waitsMs.length + a.churn!.notStarted).toBeLessThanOrEqual(created);
    expect(a.churn!.waitsMs.length).toBeGreaterThan(0);
    // The scale-out's own figures count only its pods: 6 nodes × 20.
    expect(a.addressedAt).toHaveLength(120);
    expect(b.churn).toEqual(a.churn);
    expect(fingerprint(b)).toEqual(fingerprint(a));
  }, 120_000);
});
