// Azure benchmark (issue 13): the daemon's real core on the Azure provider, through the real SDK against
// the ARM double with the documented NIC PUT figures (cloud-api-figures.md 4: the PUT answered at once
// with Azure-AsyncOperation and Retry-After: 10; Succeeded after a lognormal time of median 10 s; the
// first poll after 10 s). Three ways to run the node's pool on the same workload, in one run:
// - tidepool: the daemon with the Azure provider's flat-cost writes (ipamd/engine/flat-writes.ts: writes
//   not chained per NIC, so the NIC writer merges them; grows carry one round trip's net demand; a drain is
//   given back in one PUT once it is over);
// - before: the same daemon with that shaping off (AzureProviderOptions.flatWriteCost = false);
// - batch16: Azure CNI's pool monitor (CNS IPAM v1, cns-pool-monitor.ts: batch 16, scale up below 8
//   free, release a batch at 24 free, reconciled every second; no cooldown), its NIC writes through the
//   same provider and double.
// Prints:
//   BENCH azure_burst30_all_addressed[_before|_batch16] <ms>  a burst of 30 pods on an empty pool, until
//                                                     the last pod has its address
//   BENCH azure_writes_per_100_pods[_before|_batch16] <n>  ARM NIC PUTs for 100 pods of churn (arriving
//                                                     at 2/s, each living 20 s), until the pool settles;
//                                                     WARM_IP_TARGET=5, aws-compatible, IP_COOLDOWN_PERIOD=0
//                                                     (CNS reuses a released IP at once: the same rule
//                                                     for both); _adaptive with TIDEPOOL_POOL_POLICY=adaptive
//   BENCH azure_idle_per_100_pods[...] <n>           mean idle addresses (held on the NIC, no pod) over the
//                                                     churn's first 180 s
//   BENCH azure_churn_mean_wait[...] <ms>            mean time a churn pod waited for its address
//                                                     _defaults: Tidepool's Azure defaults instead of
//                                                     WARM_IP_TARGET=5 (no warm setting: 16 at start, 8 free,
//                                                     config/settings.ts; CNS's own batch and threshold)
//   BENCH azure_writes_per_100_pods_cooldown30[_before] <n>  the same with Tidepool's default 30 s cooldown
// Never fails on a timing. `npm run bench -- azure [--seed N] [--only churn-adaptive]`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpamCore } from '../../ipamd/core/core.js';
import { providerBudget } from '../../ipamd/cloud/providers.js';
import { StateStore } from '../../ipamd/state/store.js';
import { createAzureProvider } from '../../providers/azure/index.js';
import { azureCloud, azureSettings, type AzureCloud } from '../helpers/azure-node.js';
import { CnsV1Node } from './cns-pool-monitor.js';

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

const pod = (n: number) => ({
  namespace: 'bench',
  name: `p${n}`,
  uid: `u${n}`,
  netns: `/var/run/netns/p${n}`,
});
const key = (n: number) => ({ network: 'tidepool', containerId: `c${n}`, ifname: 'eth0' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Mode = 'tidepool' | 'before' | 'batch16';

/** The node's pool as the bench drives it: the daemon's core, or the CNS model. */
interface Pool {
  allocate(n: number): Promise<unknown>;
  release(n: number): Promise<unknown>;
  /** Nothing in flight and at least one address free. */
  idle(): boolean;
  settled(): boolean;
}

async function withNode<T>(
  mode: Mode,
  env: Record<string, string>,
  run: (pool: Pool, cloud: AzureCloud) => Promise<T>,
): Promise<T> {
  const cloud = await azureCloud({ latencyMs: putLatency(rng(SEED)), asyncRetryAfterSec: 10 });
  const settings = azureSettings(cloud, { TIDEPOOL_ADD_WAIT_MS: '180000', ...env });
  const azure = createAzureProvider(settings, { pollIntervalMs: 1000, flatWriteCost: mode === 'tidepool' });
  const dir = mkdtempSync(join(tmpdir(), 'azure-bench-'));
  try {
    if (mode === 'batch16') {
      const cns = new CnsV1Node(azure, cloud.nicName);
      await cns.start();
      try {
        return await run(
          {
            allocate: (n) => cns.allocate(`c${n}`),
            release: async (n) => cns.release(`c${n}`),
            idle: () => cns.free > 0,
            settled: () => true,
          },
          cloud,
        );
      } finally {
        cns.stop();
      }
    }
    const store = StateStore.open(join(dir, 'state.db'));
    const core = new IpamCore({ settings, provider: azure, store, budget: providerBudget(settings) });
    try {
      await core.start();
      return await run(
        {
          allocate: (n) => core.allocate(key(n), pod(n)),
          release: (n) => core.release(key(n), 'bench'),
          idle: () => core.reconciler.inFlight.size === 0 && core.status().free >= 1,
          settled: () => core.reconciler.inFlight.size === 0,
        },
        cloud,
      );
    } finally {
      await core.stop().catch(() => undefined);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await cloud.stop();
  }
}

async function waitIdle(pool: Pool) {
  while (!pool.idle()) await sleep(100);
}

/**
 * ms until 30 pods have addresses on an empty pool: every free address (the warm one, or CNS's first
 * batch) is taken by pods already running, in the same turn of the event loop as the burst, so no refill
 * starts before the burst is parked.
 */
async function burst30(mode: Mode): Promise<{ ms: number; puts: number }> {
  return withNode(mode, { WARM_IP_TARGET: '1', IP_COOLDOWN_PERIOD: '0' }, async (pool, cloud) => {
    await waitIdle(pool);
    const before = cloud.arm.puts.length;
    const free = cloud.arm.secondaries(cloud.nicName).length;
    const holders = Array.from({ length: free }, (_, i) => pool.allocate(1000 + i));
    const t0 = Date.now();
    const burst = Array.from({ length: 30 }, (_, i) => pool.allocate(i));
    await Promise.all(holders);
    await Promise.all(burst);
    const ms = Date.now() - t0;
    const shape = cloud.arm.puts
      .slice(before)
      .map((p) => `${p.added ? `+${p.added}` : ''}${p.removed ? `-${p.removed}` : ''}`);
    console.log(`# burst30 ${mode}: PUTs ${shape.join(' ')}`);
    return { ms, puts: cloud.arm.puts.length - before };
  });
}

const IDLE_WINDOW_MS = 180_000;

/** NIC PUTs for 100 pods arriving at 2/s and living 20 s each, until the pool settles; mean idle. */
async function churn100(
  mode: Mode,
  policy = 'aws-compatible',
  cooldown = '0',
  warm: Record<string, string> = { WARM_IP_TARGET: '5' },
): Promise<{ writes: number; idle: number; waitMs: number }> {
  const env = { ...warm, IP_COOLDOWN_PERIOD: cooldown, TIDEPOOL_POOL_POLICY: policy };
  return withNode(mode, env, async (pool, cloud) => {
    await waitIdle(pool);
    const before = cloud.arm.puts.length;
    let living = 0;
    let idleSum = 0;
    let samples = 0;
    const t0 = Date.now();
    const sampler = setInterval(() => {
      if (Date.now() - t0 > IDLE_WINDOW_MS) return;
      idleSum += cloud.arm.secondaries(cloud.nicName).length - living;
      samples++;
    }, 250);
    const lives: Promise<void>[] = [];
    let waited = 0;
    for (let n = 0; n < 100; n++) {
      lives.push(
        (async () => {
          const asked = Date.now();
          await pool.allocate(n);
          waited += Date.now() - asked;
          living++;
          await sleep(20_000);
          living--;
          await pool.release(n);
        })(),
      );
      await sleep(500);
    }
    await Promise.all(lives);
    // Settled: the window is over and the pool has made no write for 70 s (a held release is due by then).
    let last = cloud.arm.puts.length;
    let quietSince = Date.now();
    while (Date.now() - t0 < IDLE_WINDOW_MS || Date.now() - quietSince < 70_000 || !pool.settled()) {
      await sleep(500);
      if (cloud.arm.puts.length !== last) {
        last = cloud.arm.puts.length;
        quietSince = Date.now();
      }
    }
    clearInterval(sampler);
    const puts = cloud.arm.puts.slice(before).filter((p) => p.status === 200);
    const shape = puts.map((p) => `${p.added ? `+${p.added}` : ''}${p.removed ? `-${p.removed}` : ''}`);
    console.log(`# churn ${mode} ${policy} cooldown ${cooldown}: PUTs ${shape.join(' ')}`);
    return {
      writes: cloud.arm.puts.length - before,
      idle: Math.round((idleSum / samples) * 10) / 10,
      waitMs: Math.round(waited / 100),
    };
  });
}

const only = arg('only', 'all');
if (only === 'churn') {
  const t = await churn100(
    arg('mode', 'tidepool') as Mode,
    arg('policy', 'aws-compatible'),
    arg('cooldown', '0'),
    arg('warm', '5') === 'default'
      ? {}
      : {
          WARM_IP_TARGET: arg('warm', '5'),
          ...(arg('min', '') ? { MINIMUM_IP_TARGET: arg('min', '') } : {}),
        },
  );
  console.log(`BENCH azure_writes_per_100_pods ${t.writes} writes`);
  console.log(`BENCH azure_idle_per_100_pods ${t.idle} addresses`);
  console.log(`BENCH azure_churn_mean_wait ${t.waitMs} ms`);
  process.exit(0);
}
if (only === 'churn-adaptive') {
  const a = await churn100('tidepool', 'adaptive');
  console.log(`BENCH azure_writes_per_100_pods_adaptive ${a.writes} writes`);
  console.log(`BENCH azure_idle_per_100_pods_adaptive ${a.idle} addresses`);
  console.log(`BENCH azure_churn_mean_wait_adaptive ${a.waitMs} ms`);
  process.exit(0);
}
// The three sides of each figure run at once (separate doubles and nodes; the waits are the PUTs').
const [ours, old, theirs] = await Promise.all([burst30('tidepool'), burst30('before'), burst30('batch16')]);
console.log(`BENCH azure_burst30_all_addressed ${ours.ms} ms`);
console.log(`BENCH azure_burst30_all_addressed_before ${old.ms} ms`);
console.log(`BENCH azure_burst30_all_addressed_batch16 ${theirs.ms} ms`);
console.log(`BENCH azure_burst30_puts ${ours.puts} puts`);
console.log(`BENCH azure_burst30_puts_before ${old.puts} puts`);
console.log(`BENCH azure_burst30_puts_batch16 ${theirs.puts} puts`);
const [w, wo, wb, wa, wd] = await Promise.all([
  churn100('tidepool'),
  churn100('before'),
  churn100('batch16'),
  churn100('tidepool', 'adaptive'),
  churn100('tidepool', 'aws-compatible', '0', {}),
]);
console.log(`BENCH azure_writes_per_100_pods ${w.writes} writes`);
console.log(`BENCH azure_writes_per_100_pods_before ${wo.writes} writes`);
console.log(`BENCH azure_writes_per_100_pods_batch16 ${wb.writes} writes`);
console.log(`BENCH azure_writes_per_100_pods_adaptive ${wa.writes} writes`);
console.log(`BENCH azure_idle_per_100_pods ${w.idle} addresses`);
console.log(`BENCH azure_idle_per_100_pods_before ${wo.idle} addresses`);
console.log(`BENCH azure_idle_per_100_pods_batch16 ${wb.idle} addresses`);
console.log(`BENCH azure_idle_per_100_pods_adaptive ${wa.idle} addresses`);
console.log(`BENCH azure_churn_mean_wait ${w.waitMs} ms`);
console.log(`BENCH azure_churn_mean_wait_before ${wo.waitMs} ms`);
console.log(`BENCH azure_churn_mean_wait_batch16 ${wb.waitMs} ms`);
console.log(`BENCH azure_churn_mean_wait_adaptive ${wa.waitMs} ms`);
console.log(`BENCH azure_writes_per_100_pods_defaults ${wd.writes} writes`);
console.log(`BENCH azure_idle_per_100_pods_defaults ${wd.idle} addresses`);
console.log(`BENCH azure_churn_mean_wait_defaults ${wd.waitMs} ms`);
const [c, co] = await Promise.all([
  churn100('tidepool', 'aws-compatible', '30'),
  churn100('before', 'aws-compatible', '30'),
]);
console.log(`BENCH azure_writes_per_100_pods_cooldown30 ${c.writes} writes`);
console.log(`BENCH azure_writes_per_100_pods_cooldown30_before ${co.writes} writes`);
console.log(`BENCH azure_idle_per_100_pods_cooldown30 ${c.idle} addresses`);
console.log(`BENCH azure_idle_per_100_pods_cooldown30_before ${co.idle} addresses`);
console.log(`BENCH azure_churn_mean_wait_cooldown30 ${c.waitMs} ms`);
console.log(`BENCH azure_churn_mean_wait_cooldown30_before ${co.waitMs} ms`);
