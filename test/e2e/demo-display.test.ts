// The demo's progress display and the churn workload generator: pure pieces the demo and the churn
// benchmark are built on.
import { ProgressDisplay, describePool, poolBar, type NodePoolView } from '../../demo/progress.js';
import { generateChurn } from '../bench/lib/churn-workload.js';

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
