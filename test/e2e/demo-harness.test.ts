// Pieces the demo and the benchmarks are built on: the progress display, the churn workload generator
// and the kubelet-style retry that defines "time until addressed" for the incumbent.
import { ProgressDisplay, describePool, poolBar, type NodePoolView } from '../../demo/progress.js';
import { VirtualClock } from '../../providers/clock.js';
import { generateChurn } from '../bench/lib/churn-workload.js';
import { startLikeKubelet } from '../bench/lib/kubelet-retry.js';

const view = (over: Partial<NodePoolView> = {}): NodePoolView => ({
  node: 'node-1',
  free: 5,
  assigned: 10,
  cooling: 3,
  total: 18,
  capacity: 27,
  interfaces: 2,
  parked: 0,
  podsReady: 10,
  podsWanted: 12,
  ...over,
});

class Sink {
  text = '';
  constructor(readonly isTTY: boolean) {}
  columns = 100;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

describe('progress display', () => {
  test('the pool bar shows assigned, cooling, free and room in proportion to capacity', () => {
    const bar = poolBar(view(), 27);
    expect(bar).toBe('█'.repeat(10) + '▒'.repeat(3) + '░'.repeat(5) + '·'.repeat(9));
  });

  test('plain output prints a node line only when its state changes, with no escape sequences', () => {
    const out = new Sink(false);
    const d = new ProgressDisplay(out);
    d.update([view()]);
    d.update([view()]);
    d.update([view({ assigned: 11, free: 4, podsReady: 11 })]);
    const lines = out.text.trim().split('\n');
    expect(lines).toEqual([
      describePool(view()),
      describePool(view({ assigned: 11, free: 4, podsReady: 11 })),
    ]);
    expect(out.text).not.toContain('\x1b[');
  });

  test('on a terminal each update redraws the block in place and log lines scroll above it', () => {
    const out = new Sink(true);
    const d = new ProgressDisplay(out);
    d.update([view(), view({ node: 'node-2' })]);
    const firstBlock = out.text.split('\n').length - 1;
    out.text = '';
    d.log('wave 1 started');
    // Cursor up over the whole block, clear to the end of screen, then the log line, then the block again.
    expect(out.text.startsWith(`\x1b[${firstBlock}A\x1b[0J` + 'wave 1 started\n')).toBe(true);
    expect(out.text.split('\n').length - 1).toBe(firstBlock + 1);
  });
});

describe('churn workload', () => {
  test('is deterministic for a seed, respects max pods and pairs every delete with an earlier add', () => {
    const a = generateChurn({ seed: 7, maxPods: 20 });
    const b = generateChurn({ seed: 7, maxPods: 20 });
    expect(a.events).toEqual(b.events);
    const live = new Set<string>();
    let peak = 0;
    for (const e of a.events) {
      if (e.op === 'add') {
        expect(live.has(e.pod)).toBe(false);
        live.add(e.pod);
      } else {
        expect(live.delete(e.pod)).toBe(true);
      }
      peak = Math.max(peak, live.size);
    }
    expect(peak).toBeLessThanOrEqual(20);
    expect(a.counts.steady).toBeGreaterThan(0);
    expect(a.counts.hpa + a.counts.cron).toBeGreaterThan(0);
  });

  test('steady churn runs at the configured per-node rate and CronJob bursts land on minute boundaries', () => {
    const w = generateChurn({ seed: 3, maxPods: 1000, hpaEveryMs: 1e12, cronProbability: 1 });
    const steadyAdds = w.events.filter((e) => e.op === 'add' && e.cause === 'steady').length;
    expect(steadyAdds / (30 * 60)).toBeGreaterThan(0.15);
    expect(steadyAdds / (30 * 60)).toBeLessThan(0.25);
    const cron = w.events.filter((e) => e.op === 'add' && e.cause === 'cron');
    expect(cron.length).toBeGreaterThan(29 * 3 - 1);
    for (const e of cron) expect(e.at % 60_000).toBe(0);
  });
});

describe('kubelet-style retry of a failed sandbox', () => {
  test('retries after 10 s × (1 + 0.5·rand) until the ADD succeeds, counting each failure', async () => {
    const clock = new VirtualClock(0);
    const attemptsAt: number[] = [];
    let failuresLeft = 2;
    const randoms = [0, 1];
    const run = startLikeKubelet(
      async () => {
        attemptsAt.push(clock.now());
        if (failuresLeft-- > 0) throw new Error('failed to assign an IP address to container');
      },
      { clock, rand: () => randoms.shift() ?? 0, giveUpMs: 60_000 },
    );
    for (let i = 0; i < 40; i++) await clock.advance(1000);
    const r = await run;
    expect(attemptsAt).toEqual([0, 10_000, 25_000]);
    expect(r).toMatchObject({ attempts: 3, failures: 2, readyAt: 25_000 });
  });

  test('stops when the pod is deleted, and gives up after the limit without an address', async () => {
    const clock = new VirtualClock(0);
    let deleted = false;
    const fail = async () => {
      throw new Error('pool empty');
    };
    const cancelled = startLikeKubelet(fail, {
      clock,
      rand: () => 0,
      giveUpMs: 600_000,
      cancelled: () => deleted,
    });
    const givesUp = startLikeKubelet(fail, { clock, rand: () => 0, giveUpMs: 25_000 });
    await clock.advance(15_000);
    deleted = true;
    for (let i = 0; i < 10; i++) await clock.advance(10_000);
    const c = await cancelled;
    const g = await givesUp;
    expect([c.attempts, c.readyAt]).toEqual([2, undefined]);
    expect([g.attempts, g.failures, g.readyAt]).toEqual([3, 3, undefined]);
  });
});
