// Crash repair on LocalStack with the real daemon process (dist/bin/tidepool-ipamd, TIDEPOOL_PROVIDER=aws):
// the provider's test hook TIDEPOOL_AWS_TEST_CRASH_AT kills the daemon with SIGKILL exactly between
// CreateNetworkInterface and AttachNetworkInterface, and between DetachNetworkInterface and
// DeleteNetworkInterface — the two windows in which the incumbent leaks ENIs (reference aws-vpc-cni.md 4.3).
// After a restart without the hook, no ENI tagged for the node may be left unattached.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeNetworkInterfacesCommand, type NetworkInterface } from '@aws-sdk/client-ec2';
import type { ImdsServer } from '../../localstack/imds-server.js';
import { BIN, freePort, Proc } from '../helpers/daemon.js';
import { startImds } from '../helpers/imds.js';
import { IpamClient } from '../helpers/ipam-client.js';
import { seed, useLocalStack, type LocalStackLease } from '../helpers/localstack.js';

let ls: LocalStackLease;
let imds: ImdsServer | undefined;
let dir = '';
const procs: Proc[] = [];

beforeAll(() => {
  ls = useLocalStack();
  dir = mkdtempSync(join(tmpdir(), 'aws-crash-'));
  mkdirSync(join(dir, 'run'));
});
afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await imds?.stop();
  if (!process.env.TIDEPOOL_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
  ls?.release();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function taggedFor(instanceId: string): Promise<NetworkInterface[]> {
  const out = await ls.ec2.send(
    new DescribeNetworkInterfacesCommand({
      Filters: [{ Name: 'tag:node.k8s.amazonaws.com/instance_id', Values: [instanceId] }],
    }),
  );
  return out.NetworkInterfaces ?? [];
}

const unattached = (enis: NetworkInterface[]) =>
  enis.filter((n) => !n.Attachment || n.Attachment.Status === 'detached' || n.Status === 'available');

test('kill -9 between create and attach, and between detach and delete: after restart no ENI of the node is left unattached', async () => {
  const seeded = await seed(ls.ec2, { instanceTypes: ['m5.large'], clusterName: 'crash' });
  const instanceId = seeded.instances[0].instanceId;
  imds = await startImds(ls.ec2, instanceId);
  const [introspection, metrics] = [await freePort(), await freePort()];
  const base: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    TIDEPOOL_PROVIDER: 'aws',
    AWS_EC2_ENDPOINT: ls.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_EC2_METADATA_DISABLED: 'true',
    TIDEPOOL_IMDS_ENDPOINT: imds.url,
    CLUSTER_NAME: 'crash',
    TIDEPOOL_SOCKET: join(dir, 'run', 'ipamd.sock'),
    TIDEPOOL_STATE_DIR: join(dir, 'state'),
    TIDEPOOL_INTROSPECTION_ADDR: `127.0.0.1:${introspection}`,
    TIDEPOOL_METRICS_ADDR: `127.0.0.1:${metrics}`,
    TIDEPOOL_MANAGE_HOST_NETWORK: 'false',
    AWS_VPC_K8S_CNI_LOG_FILE: 'stdout',
    // 12 warm addresses: the primary ENI holds 9, so the daemon must create a second ENI at once.
    WARM_IP_TARGET: '12',
  };
  const spawn = (env: Record<string, string>) => {
    const p = Proc.spawn(BIN.daemon, [], { ...base, ...env }, join(dir, 'daemon.log'));
    procs.push(p);
    return p;
  };

  // 1. Crash between CreateNetworkInterface and AttachNetworkInterface.
  let daemon = spawn({ TIDEPOOL_AWS_TEST_CRASH_AT: 'after-create' });
  const exit1 = await daemon.exited;
  expect(exit1.signal).toBe('SIGKILL');
  const leaked = unattached(await taggedFor(instanceId));
  expect(leaked).toHaveLength(1); // the window is real: EC2 holds an ENI nobody attached

  daemon = spawn({});
  await until(
    'a new ENI attached and none unattached',
    async () => {
      const enis = (await taggedFor(instanceId)).filter((n) => n.Attachment?.Status === 'attached');
      return enis.length === 1 && unattached(await taggedFor(instanceId)).length === 0;
    },
    60_000,
  );
  expect(unattached(await taggedFor(instanceId))).toEqual([]);
  const repairedId = leaked[0].NetworkInterfaceId;
  expect((await taggedFor(instanceId)).map((n) => n.NetworkInterfaceId)).not.toContain(repairedId);
  const client = new IpamClient(join(dir, 'run', 'ipamd.sock'));
  try {
    await until('daemon serving', async () => (await client.healthCheck('', 1000)).status === 1, 30_000);
  } finally {
    client.close();
  }
  const second = (await taggedFor(instanceId))[0];
  await daemon.stop();

  // 2. Crash between DetachNetworkInterface and DeleteNetworkInterface: with a warm target of 1 the second
  // ENI is surplus; the pool frees it once it is 60 s old (reference 3.1 minENILifeTime).
  daemon = spawn({ WARM_IP_TARGET: '1', TIDEPOOL_AWS_TEST_CRASH_AT: 'after-detach' });
  // A bounded wait whose timer is cleared: a pending 150 s timer would hold Jest's worker after the test.
  let timer: NodeJS.Timeout | undefined;
  const exit2 = await Promise.race([
    daemon.exited,
    new Promise<null>((r) => (timer = setTimeout(() => r(null), 150_000))),
  ]);
  clearTimeout(timer);
  expect(exit2?.signal).toBe('SIGKILL');
  const afterDetach = await taggedFor(instanceId);
  expect(afterDetach.map((n) => n.NetworkInterfaceId)).toEqual([second.NetworkInterfaceId]);
  expect(unattached(afterDetach)).toHaveLength(1); // detached, not deleted: the leak window

  daemon = spawn({ WARM_IP_TARGET: '1' });
  await until('no ENI of the node left', async () => (await taggedFor(instanceId)).length === 0, 60_000);
  expect(unattached(await taggedFor(instanceId))).toEqual([]);
  await daemon.stop();
}, 300_000);
