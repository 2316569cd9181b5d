// A crash between the NIC PUT and its read-back, with the real daemon (dist/bin/tidepool-ipamd, the
// separately bundled Azure provider) against the ARM and IMDS doubles: the daemon is SIGKILLed right after
// the PUT completed (TIDEPOOL_AZURE_TEST_CRASH_AT=after-put), restarted on the same state, and must then
// hold exactly the NIC's addresses (none lost, none twice) and hand each to one pod only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, freePort, Proc } from '../helpers/daemon.js';
import { azureCloud, type AzureCloud } from '../helpers/azure-node.js';
import { IpamClient } from '../helpers/ipam-client.js';

let cloud: AzureCloud;
let dir: string;
let proc: Proc | null = null;
afterEach(async () => {
  if (proc?.alive) proc.kill('SIGKILL');
  await proc?.exited;
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`${what}: not reached in ${ms} ms`);
    await sleep(100);
  }
}

test('a crash after the NIC PUT and before the read-back neither loses nor duplicates an address', async () => {
  cloud = await azureCloud({ latencyMs: () => 100 });
  dir = mkdtempSync(join(tmpdir(), 'azure-crash-'));
  const introspection = await freePort();
  const socket = join(dir, 'run', 'ipamd.sock');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    TIDEPOOL_PROVIDER: 'azure',
    TIDEPOOL_IMDS_ENDPOINT: cloud.imds.url,
    AZURE_ARM_ENDPOINT: cloud.arm.url,
    AZURE_POD_IDENTITY_AUTHORITY_HOST: cloud.imds.url,
    NODE_EXTRA_CA_CERTS: cloud.arm.caFile,
    TIDEPOOL_SOCKET: socket,
    TIDEPOOL_STATE_DIR: join(dir, 'state'),
    TIDEPOOL_INTROSPECTION_ADDR: `127.0.0.1:${introspection}`,
    TIDEPOOL_METRICS_ADDR: `127.0.0.1:${await freePort()}`,
    TIDEPOOL_MANAGE_HOST_NETWORK: 'false',
    WARM_IP_TARGET: '4',
    IP_COOLDOWN_PERIOD: '0',
  };
  // First life: dies right after its first NIC PUT completed.
  proc = Proc.spawn(
    BIN.daemon,
    [],
    { ...env, TIDEPOOL_AZURE_TEST_CRASH_AT: 'after-put' },
    join(dir, 'daemon1.log'),
  );
  const first = await Promise.race([proc.exited, sleep(60_000).then(() => null)]);
  expect(first?.signal).toBe('SIGKILL');
  const onNic = cloud.arm.secondaries(cloud.nicName);
  expect(onNic).toHaveLength(4);

  // Second life, same state directory: adopts the NIC's addresses from ARM.
  proc = Proc.spawn(BIN.daemon, [], env, join(dir, 'daemon2.log'));
  const client = new IpamClient(socket);
  try {
    await until(
      'serving',
      async () => ((await client.healthCheck('', 1000)).status === 1 ? true : undefined),
      60_000,
    );
    const pods = await Promise.all(
      Array.from({ length: 6 }, (_, n) =>
        client.allocate({
          network: 'tidepool',
          containerId: `c${n}`,
          ifname: 'eth0',
          netns: `/var/run/netns/p${n}`,
          podNamespace: 'default',
          podName: `p${n}`,
          podUid: `u${n}`,
        }),
      ),
    );
    const addresses = pods.map((p) => p.address);
    expect(new Set(addresses).size).toBe(6);
    // The four addresses of the interrupted PUT are among those handed out or free, not lost.
    const pool = await until(
      'pool settled',
      async () => {
        const res = await fetch(`http://127.0.0.1:${introspection}/v1/interfaces`);
        const body = (await res.json()) as { interfaces?: { addresses: { address: string }[] }[] };
        const held = (body.interfaces ?? (body as unknown as { addresses: { address: string }[] }[]))
          .flatMap((i) => i.addresses.map((a) => a.address))
          .sort();
        return held.length >= 10 && held.join() === cloud.arm.secondaries(cloud.nicName).join()
          ? held
          : undefined;
      },
      60_000,
    );
    for (const ip of onNic) expect(pool).toContain(ip);
    for (const ip of addresses) expect(pool).toContain(ip);
    expect(new Set(pool).size).toBe(pool.length);
  } finally {
    client.close();
  }
});
