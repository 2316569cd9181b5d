// A node for virtual-time tests: SimCloud + InProcessSimProvider + StateStore + IpamCore, all on one
// VirtualClock. Nothing sleeps for real: time moves only when the test advances it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, type Env } from '../../config/settings.js';
import { VirtualClock } from '../../providers/clock.js';
import type { SimCloudOptions } from '../../providers/sim/cloud.js';
import { createSimNode, InProcessSimProvider } from '../../providers/sim/inprocess.js';
import type { SimCloud } from '../../providers/sim/cloud.js';
import { IpamCore } from '../../ipamd/core/core.js';
import { StateStore } from '../../ipamd/state/store.js';
import type { CloudCallOutcome, IpamObserver } from '../../ipamd/core/types.js';
import { uniform } from '../../providers/sim/random.js';

export interface TestNode {
  clock: VirtualClock;
  cloud: SimCloud;
  provider: InProcessSimProvider;
  store: StateStore;
  core: IpamCore;
  dbFile: string;
  env: Env;
  calls: { action: string; outcome: CloudCallOutcome; at: number }[];
  /** A second core on the same cloud and database file (a daemon restart). */
  restart(): Promise<IpamCore>;
  cleanup(): Promise<void>;
}

/** A seeded random source in [0, 1) (mulberry32), so backoff jitter is reproducible. */
export const seeded = (seed = 42): (() => number) => uniform(seed);

export function makeNode(opts: { env?: Env; instanceType?: string; sim?: SimCloudOptions } = {}): TestNode {
  const clock = new VirtualClock();
  const { cloud, provider } = createSimNode({
    clock,
    instanceType: opts.instanceType ?? 'm5.large',
    ...opts.sim,
  });
  const dir = mkdtempSync(join(tmpdir(), 'core-node-'));
  const dbFile = join(dir, 'state.db');
  const env = { TIDEPOOL_PROVIDER: 'sim', ...opts.env };
  const settings = loadSettings(env);
  const calls: TestNode['calls'] = [];
  const observer: IpamObserver = {
    cloudCall: (action, _ms, outcome) => calls.push({ action, outcome, at: clock.now() }),
    allocated: () => {},
    allocateFailed: () => {},
    released: () => {},
    poolChanged: () => {},
    poolEmpty: () => {},
  };
  const build = () => {
    const store = StateStore.open(dbFile, () => clock.now());
    const core = new IpamCore({ settings, provider, store, clock, observer, budget: { random: seeded() } });
    return { store, core };
  };
  const first = build();
  const node: TestNode = {
    clock,
    cloud,
    provider,
    store: first.store,
    core: first.core,
    dbFile,
    env,
    calls,
    async restart() {
      const next = build();
      node.store = next.store;
      node.core = next.core;
      return next.core;
    },
    async cleanup() {
      const stopping = node.core.stop().catch(() => undefined);
      await settle(clock, stopping);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return node;
}

/** Advances virtual time in steps until `p` settles (or `limitMs` of virtual time passes). */
export async function settle<T>(
  clock: VirtualClock,
  p: Promise<T>,
  limitMs = 600_000,
  stepMs = 100,
): Promise<T> {
  let done = false;
  const tracked = p.finally(() => (done = true));
  tracked.catch(() => undefined);
  const end = clock.now() + limitMs;
  while (!done && clock.now() < end) await clock.advance(stepMs);
  if (!done) throw new Error(`did not settle within ${limitMs} ms of virtual time`);
  return tracked;
}

export const pod = (name: string) => ({
  namespace: 'default',
  name,
  uid: `uid-${name}`,
  netns: `/var/run/netns/${name}`,
});
export const key = (containerId: string) => ({ network: 'tidepool', containerId, ifname: 'eth0' });

/** The sim's calls of one EC2 action, as (time, outcome). */
export function simCalls(cloud: SimCloud, action: string) {
  return cloud.callLog().filter((c) => c.action === action);
}
