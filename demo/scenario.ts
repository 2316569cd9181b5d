// The demo's story: pods arrive in waves, each node's pool fills; half the pods go away and their
// addresses cool down; new pods arrive and the pool refills; every pod is pinged from another node.
import type { DemoLab, PodInfo } from './lab-port.js';
import type { NodePoolView, ProgressDisplay } from './progress.js';

export interface ScenarioResult {
  pods: PodInfo[];
  /** Wall time of each successful ADD (plugin run through the lab), ms. */
  addMs: number[];
  failedAdds: { pod: string; error: string }[];
  unreachable: string[];
  pingsSent: number;
  phasesMs: Record<string, number>;
}

interface Wanted {
  node: string;
  name: string;
}

export async function runScenario(
  lab: DemoLab,
  totalPods: number,
  display: ProgressDisplay,
  signal: { stopped: boolean },
): Promise<ScenarioResult> {
  const result: ScenarioResult = {
    pods: [],
    addMs: [],
    failedAdds: [],
    unreachable: [],
    pingsSent: 0,
    phasesMs: {},
  };
  const running = new Map<string, PodInfo>();
  const wanted = new Map<string, number>(lab.nodes.map((n) => [n, 0]));
  let seq = 0;
  const nextPods = (count: number): Wanted[] =>
    Array.from({ length: count }, () => {
      const i = seq++;
      return { node: lab.nodes[i % lab.nodes.length], name: `pod-${i + 1}` };
    });

  const refresh = async () => {
    const views: NodePoolView[] = [];
    for (const node of lab.nodes) {
      const p = await lab.pool(node).catch(() => null);
      const ready = [...running.values()].filter((r) => r.node === node).length;
      if (p) views.push({ node, ...p, podsReady: ready, podsWanted: wanted.get(node) ?? 0 });
    }
    display.update(views);
  };
  // The live view: the pools are read every 200 ms while the scenario runs.
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await refresh();
      await sleep(200);
    }
  })();

  const phase = async (name: string, fn: () => Promise<void>) => {
    if (signal.stopped) return;
    display.setPhase(name);
    const t0 = Date.now();
    await fn();
    result.phasesMs[name] = Date.now() - t0;
  };
  const addAll = async (pods: Wanted[]) => {
    for (const p of pods) wanted.set(p.node, (wanted.get(p.node) ?? 0) + 1);
    await Promise.all(
      pods.map(async (p) => {
        const t0 = Date.now();
        try {
          const info = await lab.addPod(p.node, p.name);
          result.addMs.push(Date.now() - t0);
          running.set(p.name, info);
        } catch (err) {
          result.failedAdds.push({ pod: p.name, error: (err as Error).message });
          display.log(`  ADD ${p.name} on ${p.node} failed: ${(err as Error).message.split('\n')[0]}`);
        }
      }),
    );
    await refresh();
  };
  const delSome = async (count: number) => {
    const victims = [...running.values()].filter((_, i) => i % 2 === 0).slice(0, count);
    for (const v of victims) wanted.set(v.node, (wanted.get(v.node) ?? 1) - 1);
    await Promise.all(
      victims.map(async (v) => {
        await lab.delPod(v.node, v.name);
        running.delete(v.name);
      }),
    );
    await refresh();
  };

  try {
    const first = Math.ceil(totalPods / 2);
    const second = totalPods - first;
    const drain = Math.floor(totalPods / 2);
    await phase(`wave 1: ${first} pods at once`, () => addAll(nextPods(first)));
    await phase('warm pool refills', () => sleep(2500));
    await phase(`wave 2: ${second} more pods`, () => addAll(nextPods(second)));
    await phase('pool settles', () => sleep(2000));
    await phase(`drain: ${drain} pods deleted (their addresses cool down before reuse)`, () =>
      delSome(drain),
    );
    await phase('pool holds the cooling addresses', () => sleep(2500));
    await phase(`refill: ${drain} new pods`, () => addAll(nextPods(drain)));
    await phase('ping every pod from a pod on another node', async () => {
      const pods = [...running.values()];
      for (const target of pods) {
        const from = pods.find((p) => p.node !== target.node) ?? pods.find((p) => p.name !== target.name);
        if (!from) continue;
        result.pingsSent++;
        if (!(await lab.ping(from.name, target.address))) {
          result.unreachable.push(target.name);
          display.log(`  ${target.name} (${target.address}) did not answer ${from.name}`);
        }
      }
    });
  } finally {
    polling = false;
    await poller;
    display.close();
  }
  result.pods = [...running.values()];
  return result;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
