// The cloud-call budget in virtual time: concurrency bound, one call at a time per interface, sharing of
// identical waiting calls, token buckets, and which errors are retried.
import { describe, expect, test } from '@jest/globals';
import { CloudBudget } from '../../ipamd/cloud/budget.js';
import { VirtualClock } from '../../providers/clock.js';
import { LimitExceededError, TransientError } from '../../providers/errors.js';
import { seeded, settle } from './core.harness.js';

function tracker(clock: VirtualClock, ms: number) {
  let running = 0;
  let peak = 0;
  const perTarget = new Map<string, number>();
  let overlapOnTarget = false;
  const call = (target: string) => async () => {
    running++;
    peak = Math.max(peak, running);
    perTarget.set(target, (perTarget.get(target) ?? 0) + 1);
    if (perTarget.get(target)! > 1) overlapOnTarget = true;
    await clock.sleep(ms);
    perTarget.set(target, perTarget.get(target)! - 1);
    running--;
    return target;
  };
  return { call, peak: () => peak, overlap: () => overlapOnTarget };
}

describe('cloud budget', () => {
  test('bounds concurrency and never runs two calls on one interface at once', async () => {
    const clock = new VirtualClock();
    const budget = new CloudBudget({ clock, concurrency: 3, random: seeded() });
    const t = tracker(clock, 100);
    const calls = Array.from({ length: 12 }, (_, i) =>
      budget.run('Assign', 'describe', t.call(`eni-${i % 2}`), { target: `eni-${i % 2}` }),
    );
    const untargeted = Array.from({ length: 6 }, (_, i) =>
      budget.run('List', 'describe', t.call(`free-${i}`)),
    );
    await settle(clock, Promise.all([...calls, ...untargeted]), 60_000, 10);
    expect(t.peak()).toBeLessThanOrEqual(3);
    expect(t.overlap()).toBe(false);
  });

  test('an identical call still waiting is shared, not repeated', async () => {
    const clock = new VirtualClock();
    const budget = new CloudBudget({ clock, random: seeded() });
    let n = 0;
    const list = async () => {
      n++;
      await clock.sleep(50);
      return n;
    };
    // The first is running on the interface; the next two wait behind it and are one call.
    const a = budget.run('List', 'describe', list, { target: 'eni-0', coalesce: true });
    await clock.advance(10);
    const b = budget.run('List', 'describe', list, { target: 'eni-0', coalesce: true });
    const c = budget.run('List', 'describe', list, { target: 'eni-0', coalesce: true });
    const results = await settle(clock, Promise.all([a, b, c]), 10_000, 10);
    expect(results).toEqual([1, 2, 2]);
    expect(n).toBe(2);
  });

  test('a token bucket spaces calls at its refill rate once its burst is spent', async () => {
    const clock = new VirtualClock();
    const budget = new CloudBudget({
      clock,
      buckets: { interfaces: { capacity: 2, refillPerSec: 1 } },
      random: seeded(),
    });
    const t0 = clock.now();
    const at: number[] = [];
    const calls = Array.from({ length: 5 }, () =>
      budget.run('Attach', 'interfaces', async () => {
        at.push(clock.now() - t0);
      }),
    );
    await settle(clock, Promise.all(calls), 60_000, 10);
    expect(at.slice(0, 2)).toEqual([0, 0]);
    expect(at[4]).toBeGreaterThanOrEqual(3_000);
  });

  test('transient errors are retried; a limit error is not', async () => {
    const clock = new VirtualClock();
    const budget = new CloudBudget({ clock, random: seeded() });
    let tries = 0;
    const flaky = budget.run('Assign', 'addresses', async () => {
      if (++tries < 3) throw new TransientError('reset', 'Unavailable', 'AssignPrivateIpAddresses');
      return 'ok';
    });
    expect(await settle(clock, flaky)).toBe('ok');
    expect(tries).toBe(3);
    let limited = 0;
    const hard = budget.run('Assign', 'addresses', async () => {
      limited++;
      throw new LimitExceededError('full', 'PrivateIpAddressLimitExceeded', 'AssignPrivateIpAddresses');
    });
    await expect(settle(clock, hard)).rejects.toThrow(LimitExceededError);
    expect(limited).toBe(1);
    expect(budget.recent().map((r) => r.outcome)).toEqual(['error', 'error', 'ok', 'error']);
  });
});
