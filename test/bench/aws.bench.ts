// `npm run bench -- aws`: the AWS provider under the daemon's real pool engine, against LocalStack.
//   aws_fill_time           ms (real time) from start to an empty node's pool at its target (default
//                           settings, m5.large: 9 free addresses on the primary ENI), EC2 calls included
//   aws_fill_time_eni       the same with WARM_IP_TARGET=20, which needs a second and third ENI
//   aws_calls_per_100_pods  EC2 requests per 100 pods of churn with default settings: 100 pods created
//                           and deleted, one every 2 s, about 15 running at a time (virtual time, so the
//                           AWS timers — 30 s cooldown, 30 s decrease gap, 60 s ENI life — all play out)
// Figures are printed as `BENCH <name> <value> <unit>`; nothing here fails on a timing.
import { seed, useLocalStack } from '../helpers/localstack.js';
import { awsNode } from '../helpers/localstack-node.js';
import { awsSettings, startImds } from '../helpers/imds.js';
import { createAwsProvider } from '../../providers/aws/index.js';
import { IpamCore } from '../../ipamd/core/core.js';
import { StateStore } from '../../ipamd/state/store.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Env } from '../../config/settings.js';

const ls = useLocalStack();
const bench = (name: string, value: number, unit: string) =>
  process.stdout.write(`BENCH ${name} ${Math.round(value * 10) / 10} ${unit}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Real clock: start a daemon core on a fresh instance and time it until `free >= target`, nothing in flight. */
async function fillTime(env: Env, target: number): Promise<{ ms: number; calls: number; ec2Ms: number }> {
  const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
  const imds = await startImds(ls.ec2, seeded.instances[0].instanceId);
  const settings = awsSettings(ls.endpoint, imds.url, env);
  let ec2Ms = 0;
  const provider = createAwsProvider(
    settings,
    { observer: (_a, ms) => (ec2Ms += ms) },
    { AWS_REGION: 'us-east-1' },
  );
  const dir = mkdtempSync(join(tmpdir(), 'aws-bench-'));
  const core = new IpamCore({ settings, provider, store: StateStore.open(join(dir, 'state.db')) });
  try {
    const t0 = performance.now();
    await core.start();
    while (core.status().free < target || core.reconciler.inFlight.size) await sleep(2);
    const ms = performance.now() - t0;
    return { ms, ec2Ms, calls: [...provider.calls.values()].reduce((a, b) => a + b, 0) };
  } finally {
    await core.stop();
    await provider.close();
    await imds.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function churn(pods: number): Promise<{ calls: number; byAction: Record<string, number> }> {
  const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'] });
  const node = await awsNode(ls.ec2, ls.endpoint, seeded);
  try {
    const started = node.core.start();
    await node.drive(async () => node.core.ready);
    await started;
    await node.drive(() => node.core.status().free >= 9 && node.core.reconciler.inFlight.size === 0);
    const before = new Map(node.provider.calls);
    const running: number[] = [];
    let seq = 0;
    let rnd = 12345;
    const random = () => (rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const key = (n: number) => ({ network: 'tidepool', containerId: `c${n}`, ifname: 'eth0' });
    while (seq < pods) {
      // Keep about 15 pods: below, create; above, delete a random one; in between, either.
      if (running.length < 12 || (running.length < 18 && random() < 0.5)) {
        const n = ++seq;
        const p = node.core.allocate(key(n), {
          namespace: 'b',
          name: `p${n}`,
          uid: `u${n}`,
          netns: `/x/${n}`,
        });
        let done = false;
        void p.then(
          () => (done = true),
          () => (done = true),
        );
        await node.drive(() => done, 600_000, 100);
        await p;
        running.push(n);
      } else {
        const n = running.splice(Math.floor(random() * running.length), 1)[0];
        await node.core.release(key(n), 'bench');
      }
      await node.drive(() => false, 2_000, 100).catch(() => undefined); // 2 s between pod events
    }
    for (const n of running.splice(0)) await node.core.release(key(n), 'bench');
    // Let the pool settle back (cooldown, decrease gap, ENI life) so shrink calls are counted too.
    await node.drive(() => false, 180_000, 250).catch(() => undefined);
    const byAction: Record<string, number> = {};
    let calls = 0;
    for (const [a, n] of node.provider.calls) {
      const d = n - (before.get(a) ?? 0);
      if (d) byAction[a] = d;
      calls += d;
    }
    return { calls, byAction };
  } finally {
    await node.cleanup();
  }
}

try {
  const fill = await fillTime({}, 9);
  bench('aws_fill_time', fill.ms, 'ms');
  // Of which EC2 itself (sequential calls, LocalStack's latency); the rest is mostly the pool loop's first
  // 5 s tick, which the core waits before its first round.
  bench('aws_fill_ec2_time', fill.ec2Ms, 'ms');
  process.stderr.write(`  (${fill.calls} EC2 calls, including describing the node)\n`);
  const fillEni = await fillTime({ WARM_IP_TARGET: '20' }, 20);
  bench('aws_fill_time_eni', fillEni.ms, 'ms');
  bench('aws_fill_ec2_time_eni', fillEni.ec2Ms, 'ms');
  process.stderr.write(`  (${fillEni.calls} EC2 calls)\n`);
  const c = await churn(100);
  bench('aws_calls_per_100_pods', c.calls, 'calls');
  process.stderr.write(`  by action: ${JSON.stringify(c.byAction)}\n`);
} finally {
  ls.release();
}
