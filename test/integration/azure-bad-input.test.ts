// Bad input on Azure, through the real SDK clients against the doubles: each is a clear error that names
// what is wrong, and nothing is written to ARM.
import { azureCloud, azureProvider, type AzureCloud } from '../helpers/azure-node.js';

let cloud: AzureCloud;
beforeEach(async () => {
  cloud = await azureCloud({ latencyMs: () => 20 });
});
afterEach(async () => cloud?.stop());

function expectNothingWritten() {
  expect(cloud.arm.requests.get('PutNetworkInterface') ?? 0).toBe(0);
}

test('IMDS answers 404 for the instance document: the error names IMDS and the status', async () => {
  cloud.imds.instanceAnswer = { status: 404, body: '{"error":"Not found"}' };
  await expect(azureProvider(cloud).describeNode()).rejects.toThrow(
    /Azure IMDS .*\/metadata\/instance.* HTTP 404/,
  );
  expectNothingWritten();
});

test('IMDS answers something that is not JSON', async () => {
  cloud.imds.instanceAnswer = { status: 200, body: '<html>captive portal</html>' };
  await expect(azureProvider(cloud).describeNode()).rejects.toThrow(/not JSON/);
  expectNothingWritten();
});

test('IMDS answer without compute.vmSize names the missing field', async () => {
  const doc = cloud.imds.instanceDocument() as { compute: Record<string, string> };
  doc.compute.vmSize = '';
  cloud.imds.instanceAnswer = { status: 200, body: JSON.stringify(doc) };
  await expect(azureProvider(cloud).describeNode()).rejects.toThrow(/no compute\.vmSize/);
  expectNothingWritten();
});

test('IMDS answer with a malformed MAC names the interface', async () => {
  const doc = cloud.imds.instanceDocument() as { network: { interface: { macAddress: string }[] } };
  doc.network.interface[0].macAddress = 'not-a-mac';
  cloud.imds.instanceAnswer = { status: 200, body: JSON.stringify(doc) };
  await expect(azureProvider(cloud).describeNode()).rejects.toThrow(
    /interface\[0\]\.macAddress is "not-a-mac"/,
  );
  expectNothingWritten();
});

test('a VM with no NIC in the subnet IMDS reports: the error names the subnet, the MAC and what ARM lists', async () => {
  const doc = cloud.imds.instanceDocument() as { network: { interface: { ipv4: { subnet: object[] } }[] } };
  doc.network.interface[0].ipv4.subnet = [{ address: '10.99.0.0', prefix: '24' }];
  cloud.imds.instanceAnswer = { status: 200, body: JSON.stringify(doc) };
  await expect(azureProvider(cloud).describeNode()).rejects.toThrow(
    /VM node-a has no NIC in subnet 10\.99\.0\.0\/24 .*lists for this VM: node-a-nic0/,
  );
  expectNothingWritten();
});

test('the managed identity token endpoint fails: the error says no token came from it', async () => {
  cloud.imds.tokenFailure = {
    status: 400,
    body: { error: 'invalid_request', error_description: 'Identity not found' },
  };
  // A user-assigned identity of its own: msal keeps tokens per identity for the process.
  const provider = azureProvider(cloud, { AZURE_CLIENT_ID: '0f0f0f0f-1111-2222-3333-444444444444' });
  await expect(provider.describeNode()).rejects.toThrow(/no token from the managed identity endpoint/);
  expect(cloud.arm.requests.size).toBe(0);
  expectNothingWritten();
});

test('an unknown VM size names the size and the sizes Tidepool knows', async () => {
  cloud.arm.vms.get('node-a')!.size = 'Standard_Z9_v9';
  await expect(azureProvider(cloud).describeNode()).rejects.toThrow(/unknown Azure VM size "Standard_Z9_v9"/);
  expectNothingWritten();
});
