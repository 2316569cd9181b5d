// The churn bench's "pods waiting" plot line (test/bench/lib/churn-run.ts countWaiting): a wait counts in
// every one-second sample it overlaps, a wait shorter than a sample still shows, a wait of zero never does.
import { describe, expect, test } from '@jest/globals';
import { countWaiting } from '../bench/lib/churn-run.js';

const samples = () => [1000, 2000, 3000, 4000].map((t) => ({ t, waiting: 7 }));

describe('countWaiting', () => {
  test('a wait counts in each sample it overlaps, and only there', () => {
    const s = samples();
    countWaiting(s, [{ from: 500, to: 2500 }], 1000);
    expect(s.map((p) => p.waiting)).toEqual([1, 1, 1, 0]);
  });

  test('a wait shorter than a sample, between two samples, still counts once', () => {
    const s = samples();
    countWaiting(s, [{ from: 3100, to: 3400 }], 1000);
    expect(s.map((p) => p.waiting)).toEqual([0, 0, 0, 1]);
  });

  test('overlapping waits add up; a zero wait and a wait ending at a sample boundary do not spill over', () => {
    const s = samples();
    countWaiting(
      s,
      [
        { from: 1200, to: 2000 },
        { from: 1500, to: 3500 },
        { from: 2500, to: 2500 },
      ],
      1000,
    );
    expect(s.map((p) => p.waiting)).toEqual([0, 2, 1, 1]);
  });
});
