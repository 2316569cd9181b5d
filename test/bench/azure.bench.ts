// Azure benchmark (issue 13): the daemon's real core on the Azure provider, through the real SDK against
// the ARM double with the documented NIC PUT figures (cloud-api-figures.md 4: the PUT answered at once
// with Azure-AsyncOperation and Retry-After: 10; Succeeded after a lognormal time of median 10 s; the
// first poll after 10 s). Two ways to fill the NIC, in the same run:
// - tidepool: every parked request and the warm target merged into one PUT per round;
// - batch16: one batch of 16 IP configurations per round trip, as Azure CNI's pool monitor moves them
//   (reference azure-cni-and-cilium-ipam.md A2; the provider is asked for 16 whatever the engine wants).
// Prints:
//   BENCH azure_burst30_all_addressed[_batch16] <ms>  a burst of 30 pods on an empty pool, until the last
//                                                     pod has its address
//   BENCH azure_writes_per_100_pods[_batch16] <n>    ARM NIC PUTs per 100 pods of churn (100 pods at
//                                                     2 pods/s, each living 20 s; WARM_IP_TARGET=5,
//                                                     aws-compatible policy, and _adaptive with
//                                                     TIDEPOOL_POOL_POLICY=adaptive)
// Never fails on a timing. `npm run bench -- azure [--seed N] [--only churn-adaptive]`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpamCore } from '../../ipamd/core/core.js';
import { providerBudget } from '../../ipamd/cloud/providers.js';
import { StateStore } from '../../ipamd/state/store.js';
import { createAzureProvider } from '../../providers/azure/index.js';
import type { Provider } from '../../providers/types.js';
import { azureCloud, azureSettings, type AzureCloud } from '../helpers/azure-node.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const SEED = Number(arg('seed', '13'));

/** mulberry32: a seeded source for the latency draws. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Lognormal PUT duration: median 10 s, sigma 0.3 (3-60 s range, tail clipped at 60 s). */
function putLatency(random: () => number): () => number {
  return () => {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.min(60_000, 10_000 * Math.exp(0.3 * z));
  };
}

/** One batch of 16 per round trip: whatever the engine asks for, the NIC gets 16 more. */
function batch16(p: Provider): Provider {
  return new Proxy(p, {
    get(target, prop, receiver) {
      if (prop === 'assignAddresses') return (id: string) => target.assignAddresses(id, 16);
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

const pod = (n: number) => ({
  namespace: 'bench',
  name: `p${n}`,
  uid: `u${n}`,
  netns: `/var/run/netns/p${n}`,
});
const key = (n: number) => ({ network: 'tidepool', containerId: `c${n}`, ifname: 'eth0' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withNode<T>(
  mode: 'tidepool' | 'batch16',
  env: Record<string, string>,
  run: (core: IpamCore, cloud: AzureCloud) => Promise<T>,
): Promise<T> {
  const cloud = await azureCloud({ latencyMs: putLatency(rng(SEED)), asyncRetryAfterSec: 10 });
  const settings = azureSettings(cloud, { TIDEPOOL_ADD_WAIT_MS: '180000', ...env });
  const azure = createAzureProvider(settings, { pollIntervalMs: 1000 });
  const provider = mode === 'batch16' ? batch16(azure) : azure;
  const dir = mkdtempSync(join(tmpdir(), 'azure-bench-'));
  const store = StateStore.open(join(dir, 'state.db'));
  const core = new IpamCore({ settings, provider, store, budget: providerBudget(settings) });
  try {
    await core.start();
    return await run(core, cloud);
  } finally {
    await core.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await cloud.stop();
  }
}

async function waitIdle(core: IpamCore) {
  while (core.reconciler.inFlight.size > 0 || core.status().free < 1) await sleep(100);
}

/**
 * ms until 30 pods have addresses on an empty pool: every free address (the warm one, or batch16's first
 * batch) is taken by pods already running, in the same turn of the event loop as the burst, so no refill
 * starts before the burst is parked.
 */
async function burst30(mode: 'tidepool' | 'batch16'): Promise<{ ms: number; puts: number }> {
  return withNode(mode, { WARM_IP_TARGET: '1', IP_COOLDOWN_PERIOD: '0' }, async (core, cloud) => {
    await waitIdle(core);
    const before = cloud.arm.puts.length;
    const free = core.status().free;
    const holders = Array.from({ length: free }, (_, i) => core.allocate(key(1000 + i), pod(1000 + i)));
    const t0 = Date.now();
    const burst = Array.from({ length: 30 }, (_, i) => core.allocate(key(i), pod(i)));
    await Promise.all(holders);
    await Promise.all(burst);
    return { ms: Date.now() - t0, puts: cloud.arm.puts.length - before };
  });
}

/** NIC PUTs for 100 pods arriving at 2/s and living 20 s each, until the pool settles. */
async function churn100(mode: 'tidepool' | 'batch16', policy = 'aws-compatible'): Promise<number> {
  const env = { WARM_IP_TARGET: '5', IP_COOLDOWN_PERIOD: '30', TIDEPOOL_POOL_POLICY: policy };
  return withNode(mode, env, async (core, cloud) => {
    await waitIdle(core);
    const before = cloud.arm.puts.length;
    const lives: Promise<void>[] = [];
    for (let n = 0; n < 100; n++) {
      lives.push(
        (async () => {
          await core.allocate(key(n), pod(n));
          await sleep(20_000);
          await core.release(key(n), 'bench');
        })(),
      );
      await sleep(500);
    }
    await Promise.all(lives);
    await sleep(1000);
    while (core.reconciler.inFlight.size > 0) await sleep(200);
    return cloud.arm.puts.length - before;
  });
}

const only = arg('only', 'all');
if (only === 'churn-adaptive') {
  console.log(`BENCH azure_writes_per_100_pods_adaptive ${await churn100('tidepool', 'adaptive')} writes`);
  process.exit(0);
}
const ours = await burst30('tidepool');
const theirs = await burst30('batch16');
console.log(`BENCH azure_burst30_all_addressed ${ours.ms} ms`);
console.log(`BENCH azure_burst30_all_addressed_batch16 ${theirs.ms} ms`);
console.log(`BENCH azure_burst30_puts ${ours.puts} puts`);
console.log(`BENCH azure_burst30_puts_batch16 ${theirs.puts} puts`);
const w = await churn100('tidepool');
const wb = await churn100('batch16');
console.log(`BENCH azure_writes_per_100_pods ${w} writes`);
console.log(`BENCH azure_writes_per_100_pods_batch16 ${wb} writes`);
const wa = await churn100('tidepool', 'adaptive');
console.log(`BENCH azure_writes_per_100_pods_adaptive ${wa} writes`);
