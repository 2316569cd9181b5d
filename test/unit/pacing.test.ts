// Account-aware pacing (ipamd/pacing.ts) and its use in the budget: decrease on throttling, recovery,
// jitter bounds, as tables; and one token bucket for the cloud and the budget (providers/token-bucket.ts).
import { describe, expect, test } from '@jest/globals';
import { CloudBudget } from '../../ipamd/cloud/budget.js';
import { AimdPacer, DEFAULT_PACING, type PacingSpec, validatePacing } from '../../ipamd/cloud/pacing.js';
import { RetryQuota } from '../../ipamd/cloud/retry-quota.js';
import { VirtualClock } from '../../providers/clock.js';
import { ThrottledError } from '../../providers/errors.js';
import { TokenBucket } from '../../providers/token-bucket.js';

const spec: PacingSpec = { ...DEFAULT_PACING };
const constant = (v: number) => () => v;

describe('AIMD pacer: decrease on throttling', () => {
  // [what, throttle times (ms), rate expected at `at`]
  const cases: [string, number[], number, number][] = [
    ['unpaced until the first throttle', [], 0, Infinity],
    ['the first throttle sets the initial rate', [0], 0, 1],
    ['a second throttle a second later halves it', [0, 1_000], 1_000, 0.5],
    ['throttles within the 1 s window count once', [0, 200, 400, 900], 900, 1],
    ['four spaced throttles: 1 → 0.5 → 0.25 → 0.125', [0, 1_000, 2_000, 3_000], 3_000, 0.125],
    ['never below the floor', [...Array(20).keys()].map((i) => i * 1_000), 19_000, spec.minRatePerSec],
  ];
  test.each(cases)('%s', (_what, throttles, at, rate) => {
    // No additive increase here, to see the decrease alone.
    const p = new AimdPacer({ ...spec, increasePerSec: 0 }, constant(0.5));
    for (const t of throttles) p.throttled(t);
    expect(p.rate(at)).toBeCloseTo(rate, 6);
  });
});

describe('AIMD pacer: recovery (additive increase, then unpaced)', () => {
  // after one throttle at 0 (rate 1/s), + 0.05/s per second; unpaced at 4/s (60 s later)
  const cases: [number, number][] = [
    [0, 1],
    [10_000, 1.5],
    [40_000, 3],
    [59_000, 3.95],
    [60_000, Infinity],
    [120_000, Infinity],
  ];
  test.each(cases)('%d ms after a throttle the rate is %d/s', (ms, rate) => {
    const p = new AimdPacer(spec, constant(0.5));
    p.throttled(0);
    expect(p.rate(ms)).toBeCloseTo(rate, 6);
  });

  test('a throttle after recovery starts again from the initial rate', () => {
    const p = new AimdPacer(spec, constant(0.5));
    p.throttled(0);
    expect(p.rate(70_000)).toBe(Infinity);
    p.throttled(70_000);
    expect(p.rate(70_000)).toBe(1);
  });
});

describe('AIMD pacer: jitter bounds', () => {
  // random → gap at 1/s with jitter 0.5: [0.5 s, 1.5 s]
  const cases: [number, number][] = [
    [0, 500],
    [0.25, 750],
    [0.5, 1_000],
    [0.999999, 1_500],
  ];
  test.each(cases)('random %d gives a gap of %d ms', (r, gap) => {
    const p = new AimdPacer(spec, constant(r));
    p.throttled(0); // schedules the next send one gap after now
    expect(p.delayMs(0)).toBeCloseTo(gap, 0);
  });

  test('gaps from a real random source stay within [1 − jitter, 1 + jitter] × 1/rate and differ', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const p = new AimdPacer({ ...spec, increasePerSec: 0 }, rand);
    p.throttled(0);
    const gaps: number[] = [];
    let t = p.delayMs(0);
    for (let i = 0; i < 200; i++) {
      p.sent(t);
      const d = p.delayMs(t);
      gaps.push(d);
      t += d;
    }
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1_500);
    expect(new Set(gaps.map((g) => Math.round(g))).size).toBeGreaterThan(50);
  });
});

describe('pacing settings', () => {
  const bad: [string, Partial<PacingSpec>][] = [
    ['decrease must be in (0, 1)', { decrease: 1 }],
    ['jitter must be in [0, 1)', { jitter: 1 }],
    ['minRatePerSec must be > 0', { minRatePerSec: 0 }],
    ['maxRatePerSec must be >= minRatePerSec', { maxRatePerSec: 0.001 }],
  ];
  test.each(bad)('refused: %s', (message, change) => {
    expect(() => validatePacing({ ...spec, ...change })).toThrow(message);
  });
});

describe('the budget paces a class the cloud throttles', () => {
  const throttleThen = (n: number) => {
    let calls = 0;
    return async () => {
      if (++calls <= n)
        throw new ThrottledError('slow down', 'RequestLimitExceeded', 'AssignPrivateIpAddresses');
      return calls;
    };
  };
  const run = async (budget: CloudBudget, clock: VirtualClock, p: Promise<unknown>) => {
    let done = false;
    const r = p.finally(() => (done = true));
    r.catch(() => undefined); // handled by the caller's expect, after the clock has run
    for (let i = 0; i < 2_000 && !done; i++) await clock.advance(100);
    return r;
  };

  test('a throttled class is paced, the others are not, and the call still succeeds', async () => {
    const clock = new VirtualClock(0);
    const budget = new CloudBudget({ clock, random: constant(0.5) });
    expect(budget.paced('addresses')).toBe(false);
    await expect(run(budget, clock, budget.run('Assign', 'addresses', throttleThen(3)))).resolves.toBe(4);
    expect(budget.paced('addresses')).toBe(true);
    expect(budget.paced('interfaces')).toBe(false);
    expect(budget.pacer('addresses')!.decreases).toBeGreaterThanOrEqual(2);
  });

  test('paced, a call may be throttled more often than maxAttempts before it fails (maxPacedAttempts)', async () => {
    const clock = new VirtualClock(0);
    const budget = new CloudBudget({ clock, random: constant(0.5), maxAttempts: 3, maxPacedAttempts: 12 });
    await expect(run(budget, clock, budget.run('Assign', 'addresses', throttleThen(8)))).resolves.toBe(9);
  });

  test('pacing off: the SDK-like budget gives up after maxAttempts', async () => {
    const clock = new VirtualClock(0);
    const budget = new CloudBudget({ clock, random: constant(0.5), maxAttempts: 3, pacing: false });
    await expect(run(budget, clock, budget.run('Assign', 'addresses', throttleThen(8)))).rejects.toThrow(
      'slow down',
    );
    expect(budget.paced('addresses')).toBe(false);
  });

  test('an empty SDK retry quota returns the error without a retry', async () => {
    const clock = new VirtualClock(0);
    const quota = new RetryQuota({ capacity: 5, retryCost: 5, noRetryIncrement: 1 });
    const budget = new CloudBudget({ clock, pacing: false, maxAttempts: 3, retryQuota: quota });
    await expect(run(budget, clock, budget.run('Assign', 'addresses', throttleThen(2)))).rejects.toThrow();
    expect(budget.totals.calls).toBe(2); // the first attempt and one paid retry
    expect(quota.available).toBe(0);
  });
});

describe('one token bucket for the cloud and the budget', () => {
  const cases: [string, { capacity: number; refillPerSec: number }, number[], boolean[]][] = [
    [
      'capacity calls at once, then refused',
      { capacity: 2, refillPerSec: 1 },
      [0, 0, 0],
      [true, true, false],
    ],
    ['refills at its rate', { capacity: 2, refillPerSec: 1 }, [0, 0, 999, 1_000], [true, true, false, true]],
    ['fractional refill (0.3/s)', { capacity: 1, refillPerSec: 0.3 }, [0, 3_000, 3_334], [true, false, true]],
  ];
  test.each(cases)('%s', (_what, spec, times, expected) => {
    const b = new TokenBucket(spec, 0);
    expect(times.map((t) => b.take(t))).toEqual(expected);
  });

  test('waitMs says when the next token comes', () => {
    const b = new TokenBucket({ capacity: 1, refillPerSec: 5 }, 0);
    expect(b.waitMs(0)).toBe(0);
    b.take(0);
    expect(b.waitMs(0)).toBe(200);
    expect(b.waitMs(150)).toBe(50);
  });

  test('a bucket that could never give a token is refused with a clear error', () => {
    expect(() => new TokenBucket({ capacity: 0, refillPerSec: 1 }, 0)).toThrow('capacity must be >= 1');
  });
});
