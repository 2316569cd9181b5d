// The sim server as a real separate process on a Unix socket, with the SimProvider client.

import { join } from 'node:path';
import {
  LimitExceededError,
  NotFoundError,
  SubnetFullError,
  ThrottledError,
  TransientError,
} from '../../providers/errors.js';
import { SimAdminClient, SimProvider, subscribeEvents } from '../../providers/sim/client.js';
import type { SimEvent } from '../../providers/sim/model.js';
import type { IntentJournal } from '../../providers/types.js';
import { SimHttp } from '../../providers/sim/http.js';
import { bundleSimServer, startSim, tempDir, type RunningSim } from '../helpers/sim-server.js';

const dir = tempDir('server');
let script: string;
const running: RunningSim[] = [];
const clients: { close(): unknown }[] = [];

beforeAll(async () => {
  script = await bundleSimServer(dir.path);
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of running.splice(0)) await s.kill9();
});

afterAll(() => dir.remove());

async function sim(name: string, args: string[] = []): Promise<RunningSim> {
  const s = await startSim(script, join(dir.path, `${name}.sock`), args);
  running.push(s);
  return s;
}

function provider(socket: string, instanceId: string, instanceType = 'm5.large'): SimProvider {
  const p = new SimProvider({ endpoint: socket, instanceId, instanceType, deleteRetryMs: 5000 });
  clients.push(p);
  return p;
}

const attach = (subnetId: string, deviceIndex: number, extra: object = {}) => ({
  subnetId,
  securityGroups: [],
  deviceIndex,
  clientToken: `t-${deviceIndex}-${Math.random().toString(36).slice(2)}`,
  ...extra,
});

test('every Provider method round-trips between client and server, with typed errors', async () => {
  const s = await sim('rt', ['--detach-ms', '300']);
  const p = provider(s.socket, 'i-rt1', 'm5.large');
  const node = await p.describeNode(); // launches i-rt1 on first contact
  expect(node).toMatchObject({ instanceId: 'i-rt1', instanceType: 'm5.large', vpcCidrs: ['10.0.0.0/16'] });
  expect(node.limits).toMatchObject({ maxInterfaces: 3, ipv4PerInterface: 10 });
  const subnets = await p.listSubnets();
  expect(subnets[0]).toMatchObject({ id: node.subnetId, zone: node.zone });

  const ips = await p.assignAddresses(node.primaryInterfaceId, 4);
  expect(ips).toHaveLength(4);
  const journal = recordingJournal();
  p.setJournal(journal);
  const eni = await p.attachInterface(attach(node.subnetId, 1, { addresses: 2, tags: { team: 'net' } }));
  expect(eni).toMatchObject({ deviceNumber: 1, status: 'attached', subnetId: node.subnetId });
  expect(eni.addresses).toHaveLength(2);
  expect(eni.tags.team).toBe('net');
  expect(journal.log).toEqual(['begin attach-interface', `update ${eni.id}`, 'end']);
  const prefixes = await p.assignPrefixes(eni.id, 2);
  expect(prefixes).toHaveLength(2);

  let ifs = await p.listInterfaces();
  expect(ifs.map((i) => i.deviceNumber)).toEqual([0, 1]);
  expect(ifs[0].addresses.sort()).toEqual([...ips].sort());
  expect(ifs[1].prefixes.sort()).toEqual([...prefixes].sort());

  await p.releaseAddresses(node.primaryInterfaceId, ips.slice(0, 2));
  await p.releasePrefixes(eni.id, prefixes.slice(0, 1));
  ifs = await p.listInterfaces();
  expect(ifs[0].addresses.sort()).toEqual(ips.slice(2).sort());
  expect(ifs[1].prefixes).toEqual(prefixes.slice(1));

  await expect(p.assignAddresses(eni.id, 20)).rejects.toThrow(LimitExceededError);
  await expect(p.assignAddresses('eni-nope', 1)).rejects.toThrow(NotFoundError);
  await p.detachAndDeleteInterface(eni.id); // detach, then delete through the 300 ms "in use" window
  expect((await p.listInterfaces()).map((i) => i.id)).toEqual([node.primaryInterfaceId]);

  // A leaked interface (created, never attached) is swept; repairIntents deletes an orphan of a crash.
  const admin = new SimAdminClient(s.socket);
  clients.push(admin);
  await admin.setFaults({ AttachNetworkInterface: { next: 2 }, DeleteNetworkInterface: { next: 1 } });
  const first = attach(node.subnetId, 1);
  await expect(p.attachInterface(first)).rejects.toThrow(TransientError);
  await expect(p.attachInterface(attach(node.subnetId, 1))).rejects.toThrow(TransientError);
  const orphans = (await admin.state()).interfaces.filter((i) => i.status === 'available');
  expect(orphans).toHaveLength(1); // the first attempt's clean-up delete failed; the second cleaned up
  expect(orphans[0].tags['tidepool.io/client-token']).toBe(first.clientToken);
  await p.repairIntents([
    { id: 1, kind: 'attach-interface', details: { clientToken: first.clientToken }, createdAt: 0 },
  ]);
  expect((await admin.state()).interfaces.filter((i) => i.status === 'available')).toHaveLength(0);
  await admin.setFaults({ AttachNetworkInterface: { next: 1 }, DeleteNetworkInterface: { next: 1 } });
  await expect(p.attachInterface(attach(node.subnetId, 1))).rejects.toThrow(TransientError);
  expect(await p.sweepLeakedInterfaces(0)).toHaveLength(1);

  await admin.setFaults({ DescribeInstances: { next: 1, error: 'throttle' } });
  await expect(p.describeNode()).rejects.toThrow(ThrottledError);
  const { stats } = await admin.calls();
  expect(stats.AttachNetworkInterface.errors.ServiceUnavailable).toBe(3);
  expect(stats.DescribeInstances.throttled).toBe(1);
});

test('a small subnet runs out across nodes: SubnetFullError through the wire', async () => {
  const s = await sim('small', ['--subnet', '10.0.0.0/28@us-east-1a']);
  const a = provider(s.socket, 'i-a', 'm5.4xlarge');
  const b = provider(s.socket, 'i-b', 'm5.4xlarge');
  const na = await a.describeNode();
  const nb = await b.describeNode();
  await a.assignAddresses(na.primaryInterfaceId, 9); // 11 usable − 2 primaries
  await expect(b.assignAddresses(nb.primaryInterfaceId, 1)).rejects.toThrow(SubnetFullError);
});

test('state survives kill -9 of the server: restart on the same file, VPC and interfaces intact', async () => {
  const state = join(dir.path, 'persist.json');
  let s = await sim('persist', ['--state', state, '--seed', '42']);
  let p = provider(s.socket, 'i-keep', 'm5.xlarge');
  const node = await p.describeNode();
  await p.attachInterface(attach(node.subnetId, 1, { addresses: 5 }));
  const eni2 = await p.attachInterface(attach(node.subnetId, 2));
  await p.assignPrefixes(eni2.id, 1);
  await p.assignAddresses(node.primaryInterfaceId, 3);
  const before = await p.listInterfaces();
  const subnetsBefore = await p.listSubnets();
  const admin = new SimAdminClient(s.socket);
  const stateBefore = await admin.state();
  admin.close();

  await s.kill9();
  await expect(p.listInterfaces()).rejects.toThrow(TransientError); // the cloud is down, not the data
  s = await sim('persist', ['--state', state, '--seed', '7', '--subnet', '10.0.99.0/24@us-east-1a']);
  p = provider(s.socket, 'i-keep', 'm5.xlarge');
  expect(await p.listInterfaces()).toEqual(before);
  expect(await p.listSubnets()).toEqual(subnetsBefore);
  const admin2 = new SimAdminClient(s.socket);
  clients.push(admin2);
  const stateAfter = await admin2.state();
  expect(stateAfter.vpc).toEqual(stateBefore.vpc);
  expect(stateAfter.instances).toEqual(stateBefore.instances);
  // Addresses handed out after the restart never collide with those from before it.
  const held = new Set(before.flatMap((i) => [i.primaryAddress, ...i.addresses]));
  const more = await p.assignAddresses(node.primaryInterfaceId, 5);
  for (const ip of more) expect(held.has(ip)).toBe(false);
});

test('GET /events streams attach, assign, release and detach as they happen, and replays since a seq', async () => {
  const s = await sim('events');
  const p = provider(s.socket, 'i-ev', 'm5.large');
  const node = await p.describeNode();
  const seen: SimEvent[] = [];
  const sub = subscribeEvents(s.socket, { onEvent: (e) => seen.push(e) });
  clients.push(sub);
  await sub.ready;
  const eni = await p.attachInterface(attach(node.subnetId, 1, { addresses: 1 }));
  const ips = await p.assignAddresses(eni.id, 2);
  await p.releaseAddresses(eni.id, ips);
  await p.detachAndDeleteInterface(eni.id);
  await waitFor(() => seen.some((e) => e.type === 'interface-detached'));
  expect(seen.map((e) => e.type)).toEqual([
    'interface-attached',
    'addresses-assigned',
    'addresses-assigned',
    'addresses-released',
    'addresses-released',
    'interface-detached',
  ]);
  expect(seen[0]).toMatchObject({
    instanceId: 'i-ev',
    interfaceId: eni.id,
    mac: eni.mac,
    deviceNumber: 1,
    subnetCidr: node.subnetCidr,
    primaryAddress: eni.primaryAddress,
  });
  expect(seen[2]).toMatchObject({ instanceId: 'i-ev', interfaceId: eni.id, addresses: ips, prefixes: [] });
  // A late subscriber replays from a seq without a gap (the lab: GET /state, then /events?since=eventSeq).
  const replay: SimEvent[] = [];
  const late = subscribeEvents(s.socket, { since: seen[2].seq, onEvent: (e) => replay.push(e) });
  clients.push(late);
  await waitFor(() => replay.length === 3);
  expect(replay.map((e) => e.seq)).toEqual(seen.slice(3).map((e) => e.seq));
});

test('many nodes share one server concurrently; no address is handed out twice', async () => {
  const s = await sim('many', ['--no-throttle']);
  const nodes = Array.from({ length: 8 }, (_, i) => provider(s.socket, `i-n${i}`, 'm5.4xlarge'));
  const infos = await Promise.all(nodes.map((p) => p.describeNode()));
  const got = await Promise.all(
    nodes.flatMap((p, i) =>
      Array.from({ length: 25 }, () => p.assignAddresses(infos[i].primaryInterfaceId, 1)),
    ),
  );
  const all = got.flat();
  expect(all).toHaveLength(200);
  expect(new Set(all).size).toBe(200);
  for (const [i, p] of nodes.entries()) {
    expect((await p.listInterfaces())[0].addresses).toHaveLength(25);
    expect(infos[i].instanceId).toBe(`i-n${i}`);
  }
});

test('launching an instance whose id exists is refused with 409 InstanceExists', async () => {
  const s = await sim('nodes', ['--instance', 'm5.large@i-lab1']);
  const http = new SimHttp(s.socket);
  clients.push(http);
  await expect(
    http.request('POST', '/instances', { instanceType: 'm5.large', instanceId: 'i-lab1' }),
  ).rejects.toMatchObject({
    status: 409,
    code: 'InstanceExists',
  });
});

test('bad flags are refused with the flag named', async () => {
  await expect(sim('bad', ['--faults', '{"AttachNetworkInterface":{"probability":3}}'])).rejects.toThrow(
    /--faults: faults.AttachNetworkInterface.probability/,
  );
});

function recordingJournal(): IntentJournal & { log: string[] } {
  const log: string[] = [];
  let n = 0;
  return {
    log,
    begin: (kind) => (log.push(`begin ${kind}`), ++n),
    update: (_id, d) => void log.push(`update ${String(d.interfaceId)}`),
    end: () => void log.push('end'),
  };
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 10));
  }
}
