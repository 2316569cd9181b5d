// The IMDSv2 client against Amazon's own metadata mock (ec2-metadata-mock v1.13.0, IMDSv2-only, one
// interface) and against Tidepool's truthful IMDS (every ENI from LocalStack, token rules, lag).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CreateNetworkInterfaceCommand, AttachNetworkInterfaceCommand } from '@aws-sdk/client-ec2';
import { ImdsClient, ImdsError } from '../../providers/aws/imds.js';
import { readImdsInterface, readImdsInterfaces, readInstanceMetadata } from '../../providers/aws/metadata.js';
import { freePort } from '../helpers/daemon.js';
import { awsProvider, startImds } from '../helpers/imds.js';
import { ROOT, seed, useLocalStack, type LocalStackLease } from '../helpers/localstack.js';

const AEMM = join(ROOT, '.cache', 'gobin', 'ec2-metadata-mock');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('IMDSv2 client against amazon-ec2-metadata-mock v1.13.0 (-I: IMDSv2 only)', () => {
  let aemm: ChildProcess;
  let url = '';
  beforeAll(async () => {
    if (!existsSync(AEMM))
      execFileSync(
        'bash',
        ['-c', 'ROOT="$PWD"; log(){ echo "$@" >&2; }; source scripts/setup.d/40-localstack.sh'],
        {
          cwd: ROOT,
          stdio: 'inherit',
        },
      );
    const port = await freePort();
    aemm = spawn(AEMM, ['-n', '127.0.0.1', '-p', String(port), '-I'], { stdio: 'ignore', detached: true });
    url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(`${url}/latest/api/token`, { method: 'PUT' }).then(
          () => true,
          () => false,
        )
      )
        break;
      await sleep(100);
    }
  }, 300_000);
  afterAll(() => {
    if (aemm?.pid) process.kill(-aemm.pid, 'SIGKILL');
  });

  test('a GET without a token is refused with 401; the client gets a token and reads identity and the interface', async () => {
    expect((await fetch(`${url}/latest/meta-data/instance-id`)).status).toBe(401);
    const imds = new ImdsClient({ endpoint: url });
    const md = await readInstanceMetadata(imds);
    expect(md.instanceId).toMatch(/^i-[0-9a-f]+$/);
    expect(md.instanceType).toMatch(/^[a-z0-9]+\.[a-z0-9]+$/);
    expect(md.zone).toMatch(/^[a-z]{2}-[a-z]+-\d[a-z]$/);
    expect(md.region).toBe(md.zone.slice(0, -1));
    expect(md.primaryMac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const eni = await readImdsInterface(imds, md.primaryMac);
    expect(eni.interfaceId).toMatch(/^eni-/);
    expect(eni.deviceNumber).toBe(0);
    expect(eni.subnetId).toMatch(/^subnet-/);
    expect(eni.subnetCidr).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    expect(eni.vpcCidrs.length).toBeGreaterThan(0);
    expect(eni.securityGroupIds.length).toBeGreaterThan(0);
    expect(eni.localIpv4s.length).toBeGreaterThan(0);
    expect(eni.ipv4Prefixes).toEqual([]); // AEMM has no ipv4-prefix path: a 404, read as none
    const all = await readImdsInterfaces(imds);
    expect(all.map((i) => i.mac)).toEqual([md.primaryMac]);
  });
});

describe("Tidepool's IMDS, served from LocalStack's view", () => {
  let ls: LocalStackLease;
  beforeAll(() => {
    ls = useLocalStack();
  });
  afterAll(() => ls?.release());

  test('token rules as AWS: 401 without or with an expired token, 400 on a bad TTL, 403 through a proxy', async () => {
    const seeded = await seed(ls.ec2);
    const server = await startImds(ls.ec2, seeded.instances[0].instanceId);
    try {
      const u = server.url;
      expect((await fetch(`${u}/latest/meta-data/instance-id`)).status).toBe(401);
      const bad = await fetch(`${u}/latest/api/token`, {
        method: 'PUT',
        headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21601' },
      });
      expect(bad.status).toBe(400);
      const proxied = await fetch(`${u}/latest/api/token`, {
        method: 'PUT',
        headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '10.0.0.1' },
      });
      expect(proxied.status).toBe(403);
      const token = await (
        await fetch(`${u}/latest/api/token`, {
          method: 'PUT',
          headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '1' },
        })
      ).text();
      const ok = await fetch(`${u}/latest/meta-data/instance-id`, {
        headers: { 'x-aws-ec2-metadata-token': token },
      });
      expect(await ok.text()).toBe(seeded.instances[0].instanceId);
      await sleep(1100);
      const expired = await fetch(`${u}/latest/meta-data/instance-id`, {
        headers: { 'x-aws-ec2-metadata-token': token },
      });
      expect(expired.status).toBe(401);
      // The client renews a token that stopped working without the caller noticing.
      const client = new ImdsClient({ endpoint: u, tokenTtlSeconds: 1 });
      expect(await client.require('/latest/meta-data/instance-id')).toBe(seeded.instances[0].instanceId);
      await sleep(1100);
      expect(await client.require('/latest/meta-data/instance-type')).toBe('m5.large');
    } finally {
      await server.stop();
    }
  });

  test('serves every attached ENI with its device number and addresses, trailing EC2 by the configured lag', async () => {
    const seeded = await seed(ls.ec2);
    const inst = seeded.instances[0];
    const server = await startImds(ls.ec2, inst.instanceId, 1500);
    try {
      const client = new ImdsClient({ endpoint: server.url });
      expect((await readImdsInterfaces(client)).map((i) => i.interfaceId)).toEqual([inst.primaryInterfaceId]);
      const eni = await ls.ec2.send(
        new CreateNetworkInterfaceCommand({
          SubnetId: seeded.cniSubnet.id,
          SecondaryPrivateIpAddressCount: 2,
        }),
      );
      const id = eni.NetworkInterface!.NetworkInterfaceId!;
      await ls.ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: id,
          InstanceId: inst.instanceId,
          DeviceIndex: 1,
        }),
      );
      // Right after the attach, IMDS does not show it yet (as on AWS, cloud-api-figures.md 3)...
      expect((await readImdsInterfaces(client)).map((i) => i.interfaceId)).toEqual([inst.primaryInterfaceId]);
      // ...and a few seconds later it does, with EC2's addresses, subnet and device number.
      let seen = await readImdsInterfaces(client);
      for (let i = 0; i < 50 && seen.length < 2; i++) {
        await sleep(100);
        seen = await readImdsInterfaces(client);
      }
      expect(seen.map((i) => [i.interfaceId, i.deviceNumber])).toEqual([
        [inst.primaryInterfaceId, 0],
        [id, 1],
      ]);
      const ips = eni.NetworkInterface!.PrivateIpAddresses!.map((p) => p.PrivateIpAddress);
      expect(seen[1].localIpv4s.sort()).toEqual([...ips].sort());
      expect(seen[1].subnetCidr).toBe(seeded.cniSubnet.cidr);
      expect(seen[1].vpcCidrs).toEqual([seeded.vpcCidr]);
      // Well-formed MACs (moto's are not; see normalizeMac), the same ones the provider reports.
      for (const i of seen) expect(i.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      const provider = awsProvider(ls.endpoint, server.url);
      const listed = await provider.listInterfaces();
      await provider.close();
      expect(listed.map((i) => [i.id, i.mac])).toEqual(seen.map((i) => [i.interfaceId, i.mac]));
    } finally {
      await server.stop();
    }
  });
});

test('a token PUT whose answer never comes (hop limit 1 behind a container) fails naming the hop limit', async () => {
  const server = createServer(() => {
    /* swallow the request, as a dropped response does */
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const err = await new ImdsClient({ endpoint: url, timeoutMs: 300 })
      .get('/latest/meta-data/instance-id')
      .catch((e) => e);
    expect(err).toBeInstanceOf(ImdsError);
    expect((err as Error).message).toMatch(/HttpPutResponseHopLimit/);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
