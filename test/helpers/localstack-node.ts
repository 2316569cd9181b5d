// A Tidepool node on LocalStack for integration tests: the daemon's real core (IpamCore + StateStore) and
// the real AWS provider, talking to LocalStack over HTTP, discovering itself through the truthful IMDS.
// Pool timers run on a VirtualClock so the AWS timers (60 s ENI life, 30 s decrease gap, 30 s cooldown)
// take seconds; EC2 calls are real and take real time, so drive() interleaves virtual steps with real waits.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeNetworkInterfacesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { Env } from '../../config/settings.js';
import { IpamCore } from '../../ipamd/core/core.js';
import { StateStore } from '../../ipamd/state/store.js';
import type { ImdsServer } from '../../localstack/imds-server.js';
import type { SeededCluster } from '../../localstack/seed.js';
import { VirtualClock } from '../../providers/clock.js';
import { createAwsProvider, type AwsProvider } from '../../providers/aws/index.js';
import { awsSettings, startImds } from './imds.js';

export interface AwsNode {
  clock: VirtualClock;
  provider: AwsProvider;
  core: IpamCore;
  imds: ImdsServer;
  instanceId: string;
  /** Advances virtual time until cond() holds (throws after limitMs of virtual time). */
  drive(cond: () => boolean | Promise<boolean>, limitMs?: number, stepMs?: number): Promise<void>;
  /** EC2's own view of the node's ENIs (independent of the provider): id → sorted secondary addresses. */
  ec2View(): Promise<Map<string, string[]>>;
  /** The daemon's view: interface id → sorted addresses it holds. */
  daemonView(): Map<string, string[]>;
  /** Slots the daemon counts as taken by nothing of its own (an address the emulator listed twice). */
  blockedSlots(): number;
  cleanup(): Promise<void>;
}

const realSleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** TIDEPOOL_TEST_LOG=1: the core's and the provider's log lines on stderr, stamped with virtual time. */
function testLog(clock: VirtualClock) {
  if (!process.env.TIDEPOOL_TEST_LOG) return undefined;
  const line = (level: string) => (obj: object, msg?: string) =>
    process.stderr.write(
      `${new Date(clock.now()).toISOString()} ${level} ${msg ?? ''} ${JSON.stringify(obj)}\n`,
    );
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

export async function awsNode(
  ec2: EC2Client,
  endpoint: string,
  seeded: SeededCluster,
  opts: { env?: Env; instance?: number; ec2Endpoint?: string } = {},
): Promise<AwsNode> {
  const instanceId = seeded.instances[opts.instance ?? 0].instanceId;
  const imds = await startImds(ec2, instanceId);
  const clock = new VirtualClock(Date.now());
  const settings = awsSettings(opts.ec2Endpoint ?? endpoint, imds.url, opts.env ?? {});
  const log = testLog(clock);
  const provider = createAwsProvider(settings, { clock, log }, { AWS_REGION: 'us-east-1' });
  const dir = mkdtempSync(join(tmpdir(), 'aws-node-'));
  const store = StateStore.open(join(dir, 'state.db'), () => clock.now());
  const core = new IpamCore({ settings, provider, store, clock, log });
  const node: AwsNode = {
    clock,
    provider,
    core,
    imds,
    instanceId,
    async drive(cond, limitMs = 600_000, stepMs = 250) {
      const end = clock.now() + limitMs;
      while (!(await cond())) {
        if (clock.now() >= end)
          throw new Error(
            `condition not reached in ${limitMs} ms of virtual time; the pool: ` +
              `${JSON.stringify(core.status())}; ${core.reconciler.waitingOn()}; ` +
              `EC2: ${JSON.stringify(Object.fromEntries(await node.ec2View()))}; ` +
              `daemon: ${JSON.stringify(Object.fromEntries(node.daemonView()))}`,
          );
        // While an EC2 request is on the wire (real HTTP), virtual time runs near real speed, so a parked
        // Allocate's wait does not expire during one real round trip; backoff sleeps pass at full step.
        await clock.advance(provider.pendingRequests ? 5 : stepMs);
        await realSleep(3);
      }
    },
    async ec2View() {
      const out = await ec2.send(
        new DescribeNetworkInterfacesCommand({
          Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }],
        }),
      );
      return new Map(
        (out.NetworkInterfaces ?? []).map((ni) => [
          ni.NetworkInterfaceId!,
          (ni.PrivateIpAddresses ?? [])
            .filter((p) => !p.Primary)
            .map((p) => p.PrivateIpAddress!)
            .sort(),
        ]),
      );
    },
    daemonView() {
      return new Map(
        core
          .snapshot()
          .interfaces.map((i) => [i.id, i.addresses.map((a) => a.address).sort()] as [string, string[]]),
      );
    },
    blockedSlots() {
      return core.snapshot().interfaces.reduce((n, i) => n + (i.blockedSlots ?? 0), 0);
    },
    async cleanup() {
      const stopping = core.stop().catch(() => undefined);
      let done = false;
      void stopping.then(() => (done = true));
      while (!done) {
        await clock.advance(1000);
        await realSleep(5);
      }
      await imds.stop();
      await provider.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return node;
}
