// The lab's Azure mode end to end (`tidepoolctl lab up --provider azure`): two nodes whose daemons run the
// Azure provider (TIDEPOOL_PROVIDER=azure, the real @azure/arm-network and @azure/identity) against the
// lab's ARM double over HTTPS with the lab's CA, and discover their VM, NIC and MAC through the lab's IMDS
// double, which answers each node for its own VM. Pods get addresses that are IP configurations of their
// node's NIC in the double, the fabric routes them between nodes, the internet sees the node's address
// (SNAT), a pod's DEL gives the excess back to the NIC (WARM_IP_TARGET=1: the pool shrinks back to one
// free), and `lab down` leaves no namespace, process or file. Everything lives in the lab's namespaces.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { azureControl, type AzureNicView } from '../../lab/azure-cloud.js';
import { Lab, labProcesses, namespacesWithPrefix } from '../helpers/lab.js';
import { randomBytes } from 'node:crypto';

const lab = new Lab(`tp-lab-az${randomBytes(2).toString('hex')}-`);
afterAll(async () => {
  await lab.down();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not reached in ${ms / 1000} s`);
    await sleep(500);
  }
}

test('lab on the Azure doubles: pods get NIC IP configurations, reach each other and the internet via SNAT, DEL releases, down leaves nothing', async () => {
  await lab.must(
    [
      'up',
      '--provider',
      'azure',
      '--nodes',
      '2',
      '--env',
      'WARM_IP_TARGET=1',
      '--env',
      'IP_COOLDOWN_PERIOD=0',
    ],
    300_000,
  );
  const socket = join(lab.stateDir, 'azure.sock');
  const nics = () => azureControl<AzureNicView[]>(socket, 'GET', '/nics');
  const manifest = JSON.parse(readFileSync(join(lab.stateDir, 'manifest.json'), 'utf8'));
  const nodes = manifest.nodes as { name: string; instanceId: string; primaryAddress: string; mac: string }[];
  // Each node namespace's eth0 is its VM's NIC: the MAC and primary address the double gave it.
  for (const n of nodes) {
    const nic = (await nics()).find((x) => x.vm === n.instanceId)!;
    expect(nic.mac).toBe(n.mac);
    expect(nic.primaryAddress).toBe(n.primaryAddress);
    const link = await lab.exec(n.name, ['ip', '-j', 'addr', 'show', 'eth0']);
    const [eth0] = JSON.parse(link.stdout) as { address: string; addr_info: { local: string }[] }[];
    expect(eth0.address).toBe(n.mac);
    expect(eth0.addr_info.map((a) => a.local)).toContain(n.primaryAddress);
  }

  const pods: Record<string, string> = {};
  for (const [node, pod] of [
    ['node-1', 'a'],
    ['node-2', 'b'],
  ]) {
    const out = await lab.must(['pod', 'add', node, pod], 120_000);
    pods[pod] = /(\d+\.\d+\.\d+\.\d+)/.exec(out)![1];
  }
  // Each pod address is a secondary IP configuration of that pod's node's NIC in the ARM double.
  const owner = new Map<string, string>();
  for (const nic of await nics()) for (const a of nic.addresses) owner.set(a, nic.vm);
  expect(owner.get(pods.a)).toBe('node-1');
  expect(owner.get(pods.b)).toBe('node-2');

  const ping = await lab.exec('a', ['ping', '-c', '2', '-W', '2', pods.b]);
  expect(ping.stdout).toMatch(/2 received/);
  const back = await lab.exec('b', ['ping', '-c', '2', '-W', '2', pods.a]);
  expect(back.stdout).toMatch(/2 received/);
  const who = await lab.exec('a', ['socat', '-T3', '-', 'TCP:203.0.113.10:8080']);
  expect(who.stdout.trim()).toBe(nodes.find((n) => n.name === 'node-1')!.primaryAddress);

  // The daemons reached ARM only through the double, with the managed identity's token (any other
  // token is refused with 401, and nothing would have been assigned).
  const counts = await azureControl<{ requests: Record<string, number> }>(socket, 'GET', '/counts');
  expect(counts.requests.PutNetworkInterface).toBeGreaterThanOrEqual(2);

  // DEL: node-1 holds a's address and its warm ones; after the DEL it holds more free than
  // WARM_IP_TARGET=1 and gives the excess back to the NIC in one PUT (once the drain is over); the fabric
  // stops routing what was given back.
  const held = (await nics()).find((n) => n.vm === 'node-1')!.addresses;
  expect(held.length).toBeGreaterThanOrEqual(2);
  await lab.must(['pod', 'del', 'node-1', 'a'], 120_000);
  const left = await until('node-1 to give its excess back to the NIC', async () => {
    const now = (await nics()).find((n) => n.vm === 'node-1')!.addresses;
    return now.length === 1 ? now : undefined;
  });
  const released = held.filter((a) => !left.includes(a));
  expect(released.length).toBe(held.length - 1);
  await until('the fabric to stop routing the released addresses', async () => {
    const f = JSON.parse(readFileSync(join(lab.stateDir, 'fabric.json'), 'utf8')) as {
      interfaces: { addresses: string[] }[];
    };
    return f.interfaces.some((i) => i.addresses.some((a) => released.includes(a))) ? undefined : true;
  });

  const down = await lab.down();
  expect(down.code).toBe(0);
  expect(namespacesWithPrefix(lab.prefix)).toEqual([]);
  expect(labProcesses(lab.stateDir)).toEqual([]);
  expect(existsSync(lab.stateDir)).toBe(false);
}, 480_000);
