// The Azure provider's NIC writer through the real SDK against the ARM double: one PUT per NIC for calls
// made together, never two PUTs in flight on one NIC, another writer's change kept (If-Match honoured),
// 429 RetryableErrorDueToAnotherOperation retried after its Retry-After, /28 configurations.
import { azureCloud, azureProvider, type AzureCloud } from '../helpers/azure-node.js';

let cloud: AzureCloud;
afterEach(async () => cloud?.stop());

test('ten concurrent requests on one NIC become one PUT; every new address is Succeeded and distinct', async () => {
  cloud = await azureCloud({ latencyMs: () => 100 });
  const provider = azureProvider(cloud);
  const node = await provider.describeNode();
  expect(node.primaryInterfaceId).toBe(cloud.nicName);
  expect(node.limits).toMatchObject({
    maxInterfaces: 1,
    ipv4PerInterface: 256,
    maxAddressesPerInstance: 256,
  });
  const results = await Promise.all(
    Array.from({ length: 10 }, () => provider.assignAddresses(cloud.nicName, 3)),
  );
  const all = results.flat();
  expect(all).toHaveLength(30);
  expect(new Set(all).size).toBe(30);
  expect(cloud.arm.puts.filter((p) => p.status === 200)).toHaveLength(1);
  expect(cloud.arm.maxConcurrentPerNic).toBe(1);
  expect(cloud.arm.secondaries(cloud.nicName)).toEqual([...all].sort());
});

test('requests made while a PUT is in flight wait and share the next PUT; no 429 from a second writer of ours', async () => {
  cloud = await azureCloud({ latencyMs: () => 300 });
  const provider = azureProvider(cloud);
  await provider.describeNode();
  const first = provider.assignAddresses(cloud.nicName, 2);
  await new Promise((r) => setTimeout(r, 100)); // the first PUT is now running
  const later = await Promise.all(
    Array.from({ length: 5 }, () => provider.assignAddresses(cloud.nicName, 1)),
  );
  await first;
  expect(later.flat()).toHaveLength(5);
  expect(cloud.arm.puts.map((p) => p.status)).toEqual([200, 200]);
  expect(cloud.arm.busyAnswers).toBe(0);
  expect(cloud.arm.maxConcurrentPerNic).toBe(1);
});

test('a release and an add asked together are one PUT', async () => {
  cloud = await azureCloud({ latencyMs: () => 50 });
  const provider = azureProvider(cloud);
  await provider.describeNode();
  const had = await provider.assignAddresses(cloud.nicName, 4);
  const [fresh] = await Promise.all([
    provider.assignAddresses(cloud.nicName, 2),
    provider.releaseAddresses(cloud.nicName, had.slice(0, 2)),
  ]);
  expect(cloud.arm.puts).toHaveLength(2);
  expect(cloud.arm.secondaries(cloud.nicName)).toEqual([...had.slice(2), ...fresh].sort());
});

test("another writer's change between our read and our write is not lost (412 on the etag, re-read, re-merge)", async () => {
  cloud = await azureCloud({ latencyMs: () => 50, etagCheck: true });
  const provider = azureProvider(cloud);
  await provider.describeNode();
  let theirs = '';
  cloud.arm.beforeNextPut = () => (theirs = cloud.arm.externalAdd(cloud.nicName, 'someone-else'));
  const ours = await provider.assignAddresses(cloud.nicName, 3);
  expect(cloud.arm.preconditionFailures).toBe(1);
  expect(ours).toHaveLength(3);
  expect(ours).not.toContain(theirs);
  expect(cloud.arm.secondaries(cloud.nicName)).toEqual([theirs, ...ours].sort());
});

test('429 RetryableErrorDueToAnotherOperation is retried after the advertised Retry-After, with a fresh read', async () => {
  cloud = await azureCloud({ latencyMs: () => 50, busyRetryAfterSec: 2 });
  const provider = azureProvider(cloud);
  await provider.describeNode();
  cloud.arm.busyNext(1);
  const got = await provider.assignAddresses(cloud.nicName, 2);
  expect(got).toHaveLength(2);
  const [busy, ok] = cloud.arm.puts;
  expect(busy).toMatchObject({ status: 429, code: 'RetryableError' });
  expect(ok.status).toBe(200);
  expect(ok.at - busy.at).toBeGreaterThanOrEqual(2000);
});

test('/28 IP configurations in prefix mode; single addresses as /32 when the subnet has no free /28', async () => {
  cloud = await azureCloud({ latencyMs: () => 50, subnetCidr: '10.20.0.0/26' });
  const provider = azureProvider(cloud, { ENABLE_PREFIX_DELEGATION: 'true' });
  await provider.describeNode();
  const blocks = await provider.assignPrefixes(cloud.nicName, 2);
  expect(blocks).toEqual(['10.20.0.16/28', '10.20.0.32/28']);
  // A /26 has no third aligned /28 clear of the reserved first and last addresses.
  const singles = await provider.assignPrefixes(cloud.nicName, 1);
  expect(singles).toHaveLength(16);
  expect(singles.every((s) => s.endsWith('/32'))).toBe(true);
  const listed = (await provider.listInterfaces())[0];
  expect(listed.prefixes.sort()).toEqual([...blocks, ...singles].sort());
});

test("a second NIC's addresses count against the VM's 256: the pod NIC stops at 254", async () => {
  cloud = await azureCloud({ latencyMs: () => 20 });
  const vm = cloud.arm.vms.get(cloud.vmName)!;
  const first = cloud.arm.nics.get(cloud.nicName)!;
  const other = cloud.arm.addSubnet('vnet-tidepool', 'other', '10.30.0.0/24');
  cloud.arm.nics.set('node-a-nic1', {
    ...first,
    name: 'node-a-nic1',
    mac: '000D3A000001',
    ipConfigs: [
      { name: 'ipconfig1', ip: '10.30.0.4', subnetId: other.id, primary: true, state: 'Succeeded' },
    ],
  });
  vm.nics.push('node-a-nic1');
  const provider = azureProvider(cloud);
  const node = await provider.describeNode();
  expect(node.primaryInterfaceId).toBe(cloud.nicName);
  expect(node.limits.maxAddressesPerInstance).toBe(255);
  const got = await provider.assignAddresses(cloud.nicName, 300);
  expect(got).toHaveLength(254);
  expect(cloud.arm.puts.map((p) => p.status)).toEqual([200]);
  await expect(provider.assignAddresses(cloud.nicName, 1)).rejects.toThrow(/cannot take more/);
});
