// The lab's fabric on its own, without a cloud: events from a scripted source drive real namespaces, and
// the fabric's routes, neighbours and source-check set are read back. Also the seam for clouds without
// an event stream (diffInterfaces, PollingEventSource) and the sim event mapping.
import {
  diffInterfaces,
  PollingEventSource,
  type FabricEvent,
  type InterfaceSnapshot,
} from '../../lab/events.js';
import { Fabric } from '../../lab/fabric.js';
import { toFabricEvent } from '../../lab/sim-cloud.js';
import { configureNodePrimary, setupVpcNamespace } from '../../lab/topology.js';
import { inNs, ipJson, Namespaces, testPrefix } from '../helpers/lab.js';

const eth0: InterfaceSnapshot = {
  instanceId: 'i-1',
  interfaceId: 'eni-a',
  mac: '02:7b:00:00:01:00',
  deviceNumber: 0,
  subnetCidr: '10.0.0.0/20',
  primaryAddress: '10.0.0.10',
  addresses: ['10.0.0.11'],
  prefixes: [],
};
const eth1: InterfaceSnapshot = {
  ...eth0,
  interfaceId: 'eni-b',
  mac: '02:7b:00:00:01:01',
  deviceNumber: 1,
  primaryAddress: '10.0.0.20',
  addresses: [],
};
const peer: InterfaceSnapshot = {
  ...eth0,
  instanceId: 'i-2',
  interfaceId: 'eni-c',
  mac: '02:7b:00:00:02:00',
  primaryAddress: '10.0.0.30',
  addresses: [],
};

describe('fabric in namespaces', () => {
  const nss = new Namespaces(testPrefix());
  let vpc = '';
  let n1 = '';
  let n2 = '';
  let fabric: Fabric;

  beforeAll(async () => {
    vpc = await nss.add('vpc');
    const inet = await nss.add('internet');
    n1 = await nss.add('node-1');
    n2 = await nss.add('node-2');
    await setupVpcNamespace(vpc, inet, ['10.0.0.0/16']);
    const nodes: Record<string, { netns: string; index: number }> = {
      'i-1': { netns: n1, index: 1 },
      'i-2': { netns: n2, index: 2 },
    };
    fabric = new Fabric(vpc, (id) => nodes[id]);
  });
  afterAll(() => nss.cleanup());

  const owned = async () => [...(await fabric.ownedElements())].sort();

  test('a snapshot creates each interface as a veth with its MAC and routes what it owns', async () => {
    await fabric.resync([eth0, peer]);
    const [link] = await ipJson(n1, ['link', 'show', 'eth0']);
    expect(link.address).toBe(eth0.mac);
    const [vlink] = await ipJson(vpc, ['link', 'show', 'n1e0']);
    expect(vlink.ifalias).toBe('eni-a');
    const routes = await ipJson(vpc, ['route', 'show', 'dev', 'n1e0']);
    expect(routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: '10.0.0.10', scope: 'link' }),
        expect.objectContaining({
          dst: '10.0.0.11',
          gateway: '10.0.0.10',
          flags: expect.arrayContaining(['onlink']),
        }),
      ]),
    );
    expect(await ipJson(vpc, ['neigh', 'show', 'dev', 'n1e0'])).toContainEqual(
      expect.objectContaining({ dst: '10.0.0.10', lladdr: eth0.mac, state: ['PERMANENT'] }),
    );
    expect(await owned()).toEqual(['"n1e0" . 10.0.0.10', '"n1e0" . 10.0.0.11', '"n2e0" . 10.0.0.30'].sort());
  });

  test('attach, assign (addresses and a /28), release and detach follow the events', async () => {
    await fabric.apply({ type: 'interface-attached', ...eth1 });
    const [l1] = await ipJson(n1, ['link', 'show', 'eth1']);
    expect(l1.address).toBe(eth1.mac);
    expect(l1.operstate).toBe('DOWN'); // left for the daemon to configure, as a hot-plugged ENI
    await fabric.apply({
      type: 'addresses-assigned',
      instanceId: 'i-1',
      interfaceId: 'eni-b',
      addresses: ['10.0.0.21'],
      prefixes: ['10.0.1.16/28'],
    });
    let els = await owned();
    expect(els).toContain('"n1e1" . 10.0.0.21');
    expect(els.filter((e) => e.startsWith('"n1e1" . 10.0.1.'))).toHaveLength(16);
    expect((await ipJson(vpc, ['route', 'show', '10.0.1.16/28'])).map((r) => r.dev)).toEqual(['n1e1']);
    await fabric.apply({
      type: 'addresses-released',
      instanceId: 'i-1',
      interfaceId: 'eni-b',
      addresses: ['10.0.0.21'],
      prefixes: ['10.0.1.16/28'],
    });
    els = await owned();
    expect(els.filter((e) => e.startsWith('"n1e1"'))).toEqual(['"n1e1" . 10.0.0.20']);
    expect(await ipJson(vpc, ['route', 'show', '10.0.0.21'])).toEqual([]);
    await fabric.apply({ type: 'interface-detached', instanceId: 'i-1', interfaceId: 'eni-b' });
    expect((await inNs(n1, ['ip', 'link', 'show', 'eth1'])).code).not.toBe(0);
    expect((await owned()).filter((e) => e.startsWith('"n1e1"'))).toEqual([]);
  });

  test('a resync repairs what changed behind the fabric’s back', async () => {
    await inNs(vpc, ['ip', 'route', 'del', '10.0.0.11/32']);
    await inNs(vpc, ['nft', 'delete', 'element', 'ip', 'fabric', 'owned', '{ "n2e0" . 10.0.0.30 }']);
    await inNs(vpc, ['ip', 'link', 'add', 'n9e9', 'type', 'veth', 'peer', 'name', 'x9']); // a stale link
    await fabric.resync([eth0, peer]);
    expect(await ipJson(vpc, ['route', 'show', '10.0.0.11'])).toHaveLength(1);
    expect(await owned()).toContain('"n2e0" . 10.0.0.30');
    expect((await inNs(vpc, ['ip', 'link', 'show', 'n9e9'])).code).not.toBe(0);
  });

  test('traffic: owned sources pass, a source the interface does not own is dropped and remembered', async () => {
    await configureNodePrimary(n1, 'eth0', '10.0.0.10', 20, '10.0.0.1');
    await configureNodePrimary(n2, 'eth0', '10.0.0.30', 20, '10.0.0.1');
    expect((await inNs(n1, ['ping', '-c1', '-W2', '10.0.0.30'])).code).toBe(0);
    // 10.0.0.99 is owned by nobody: sent from node-1 it must not pass the fabric.
    await inNs(n1, ['ip', 'addr', 'add', '10.0.0.99/32', 'dev', 'eth0']);
    expect((await inNs(n1, ['ping', '-c1', '-W1', '-I', '10.0.0.99', '10.0.0.30'])).code).not.toBe(0);
    const list = JSON.parse(
      (await inNs(vpc, ['nft', '-j', 'list', 'set', 'ip', 'fabric', 'dropped'])).stdout,
    );
    const dropped = list.nftables
      .find((i: any) => i.set)
      .set.elem.map((e: any) => (e.elem?.val ?? e).concat.join(' '));
    expect(dropped).toContain('n1e0 10.0.0.99');
  });
});

describe('event sources', () => {
  test('diffInterfaces turns two listings into attach/assign/release/detach events', () => {
    const before = [eth0, { ...eth1, addresses: ['10.0.0.21', '10.0.0.22'] }];
    const after = [{ ...eth0, addresses: ['10.0.0.11', '10.0.0.12'] }, peer];
    const events = diffInterfaces(before, after);
    expect(events).toEqual<FabricEvent[]>([
      { type: 'interface-detached', instanceId: 'i-1', interfaceId: 'eni-b' },
      {
        type: 'addresses-assigned',
        instanceId: 'i-1',
        interfaceId: 'eni-a',
        addresses: ['10.0.0.12'],
        prefixes: [],
      },
      {
        type: 'interface-attached',
        instanceId: 'i-2',
        interfaceId: 'eni-c',
        mac: peer.mac,
        deviceNumber: 0,
        subnetCidr: peer.subnetCidr,
        primaryAddress: peer.primaryAddress,
      },
    ]);
    expect(diffInterfaces(after, after)).toEqual([]);
  });

  test('PollingEventSource: the first listing is the snapshot, then only changes', async () => {
    const listings = [[eth0], [eth0], [eth0, eth1]];
    let n = 0;
    const src = new PollingEventSource(
      'scripted',
      async () => listings[Math.min(n++, listings.length - 1)],
      5,
    );
    const ac = new AbortController();
    const snapshots: InterfaceSnapshot[][] = [];
    const events: FabricEvent[] = [];
    const done = src.run(
      async (s) => void snapshots.push(s),
      async (e) => {
        events.push(e);
        ac.abort();
      },
      ac.signal,
    );
    await done;
    expect(snapshots).toEqual([[eth0]]);
    expect(events.map((e) => e.type)).toEqual(['interface-attached']);
  });

  test('sim events map to fabric events; launch is the primary interface; pings are ignored', () => {
    expect(
      toFabricEvent({
        type: 'instance-launched',
        seq: 3,
        at: 1,
        instanceId: 'i-1',
        instanceType: 't3.nano',
        zone: 'z',
        subnetCidr: '10.0.0.0/20',
        primaryInterfaceId: 'eni-a',
        primaryAddress: '10.0.0.10',
        mac: eth0.mac,
      }),
    ).toEqual({
      type: 'interface-attached',
      instanceId: 'i-1',
      interfaceId: 'eni-a',
      mac: eth0.mac,
      deviceNumber: 0,
      subnetCidr: '10.0.0.0/20',
      primaryAddress: '10.0.0.10',
    });
    expect(toFabricEvent({ type: 'ping' })).toBeUndefined();
    expect(
      toFabricEvent({
        type: 'addresses-assigned',
        seq: 4,
        at: 2,
        instanceId: 'i-1',
        interfaceId: 'eni-a',
        addresses: ['10.0.0.11'],
        prefixes: [],
      }),
    ).toEqual({
      type: 'addresses-assigned',
      instanceId: 'i-1',
      interfaceId: 'eni-a',
      addresses: ['10.0.0.11'],
      prefixes: [],
    });
  });
});
