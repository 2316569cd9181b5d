// The orphan audit's rules on a virtual clock: two consecutive misses AND the grace before a release, one
// link listing per audit, nothing released when the listing fails, a DEL + ADD of the same key between
// audits starts over. The link listing and Ipam.release are stand-ins here (a function, a recorder): these
// tests check which calls the audit makes. The real `ip -json link show` and the real core's release run in
// orphans.test.ts.
import { createHash } from 'node:crypto';
import { VirtualClock } from '../../providers/clock.js';
import { allocationVeth, OrphanAudit } from '../../ipamd/core/orphans.js';
import type { Allocation, AllocationKey } from '../../ipamd/core/types.js';

const GRACE = 60_000;
const INTERVAL = 60_000;

function alloc(name: string, allocatedAt: number, extra: Partial<Allocation> = {}): Allocation {
  return {
    key: { network: 'tidepool', containerId: `cid-${name}`, ifname: 'eth0' },
    pod: { namespace: 'default', name, uid: `uid-${name}`, netns: `/run/netns/${name}` },
    address: `10.0.0.${name.length}`,
    interfaceId: 'eni-1',
    deviceNumber: 0,
    routeTable: 254,
    subnetGateway: '10.0.0.1',
    subnetCidr: '10.0.0.0/24',
    allocatedAt,
    ...extra,
  };
}

function setup(allocs: Allocation[], links: () => string[]) {
  const clock = new VirtualClock();
  const held = new Map(allocs.map((a) => [a.key.containerId, a]));
  const releases: { key: AllocationKey; reason: string }[] = [];
  let listings = 0;
  const audit = new OrphanAudit({
    ipam: {
      release: async (key, reason) => {
        releases.push({ key, reason });
        const a = held.get(key.containerId) ?? null;
        held.delete(key.containerId);
        return a;
      },
    },
    allocations: () => [...held.values()],
    listLinks: async () => (listings++, links()),
    vethPrefix: 'eni',
    intervalMs: INTERVAL,
    graceMs: GRACE,
    clock,
    log: { info: () => undefined, warn: () => undefined },
  });
  return { clock, held, releases, audit, listings: () => listings };
}

describe('orphan audit rules', () => {
  it('names the veth as the plugin does: eni + 11 hex of sha1(namespace.pod), container id outside Kubernetes', () => {
    const a = alloc('web', 0);
    expect(allocationVeth('eni', a)).toBe(
      'eni' + createHash('sha1').update('default.web').digest('hex').slice(0, 11),
    );
    const bare = alloc('x', 0, { pod: { namespace: '', name: '', uid: '', netns: '' } });
    expect(allocationVeth('tp', bare)).toBe(
      'tp' + createHash('sha1').update('cid-x').digest('hex').slice(0, 11),
    );
    const second = alloc('web', 0, { key: { network: 'n', containerId: 'c', ifname: 'net1' } });
    expect(allocationVeth('eni', second)).toBe(
      'eni' + createHash('sha1').update('default.web.net1').digest('hex').slice(0, 11),
    );
  });

  it('releases only after two consecutive misses and the grace; a present veth is never touched', async () => {
    const t0 = new VirtualClock().now();
    const young = alloc('young', t0); // just allocated: its ADD may still be creating the veth
    const old = alloc('old-pod', t0 - 10 * GRACE);
    const live = alloc('live-pod', t0 - 10 * GRACE);
    const s = setup([young, old, live], () => ['lo', allocationVeth('eni', live)]);

    expect((await s.audit.auditOnce()).released).toEqual([]); // first miss for both
    expect(s.releases).toEqual([]);
    await s.clock.advance(INTERVAL / 2);
    const second = await s.audit.auditOnce(); // second miss: old goes, young is within the grace
    expect(second.released.map((a) => a.key.containerId)).toEqual(['cid-old-pod']);
    expect(s.releases[0].reason).toBe(`orphan: host veth ${allocationVeth('eni', old)} gone`);
    await s.clock.advance(GRACE);
    expect((await s.audit.auditOnce()).released.map((a) => a.key.containerId)).toEqual(['cid-young']);
    expect([...s.held.keys()]).toEqual(['cid-live-pod']);
    expect(s.listings()).toBe(3); // one listing per audit, never per allocation
  });

  it('a failed listing releases nothing and starts the count of misses over', async () => {
    const old = alloc('old-pod', 0);
    let fail = false;
    const s = setup([old], () => {
      if (fail) throw new Error('ip: cannot open netlink socket');
      return ['lo'];
    });
    await s.audit.auditOnce(); // miss 1
    fail = true;
    expect((await s.audit.auditOnce()).released).toEqual([]);
    fail = false;
    expect((await s.audit.auditOnce()).released).toEqual([]); // the miss before the failure was forgotten
    expect((await s.audit.auditOnce()).released).toHaveLength(1);
  });

  it('a veth that comes back between audits resets the count', async () => {
    const a = alloc('flap', 0);
    let present = false;
    const s = setup([a], () => (present ? ['lo', allocationVeth('eni', a)] : ['lo']));
    await s.audit.auditOnce();
    present = true;
    await s.audit.auditOnce();
    present = false;
    expect((await s.audit.auditOnce()).released).toEqual([]);
    expect((await s.audit.auditOnce()).released).toHaveLength(1);
  });

  it('a DEL + ADD of the same key between audits is a new allocation: its misses count from zero', async () => {
    const first = alloc('again', 0);
    const s = setup([first], () => ['lo']);
    await s.audit.auditOnce();
    s.held.set(first.key.containerId, { ...first, allocatedAt: 1, address: '10.0.0.99' });
    expect((await s.audit.auditOnce()).released).toEqual([]);
    expect((await s.audit.auditOnce()).released.map((a) => a.address)).toEqual(['10.0.0.99']);
  });

  it('runs on the injected clock: at start, then every interval, and stop() ends the loop', async () => {
    const a = alloc('old-pod', 0);
    const s = setup([a], () => ['lo']);
    s.audit.start();
    await s.clock.advance(0);
    expect(s.listings()).toBe(1);
    await s.clock.advance(INTERVAL - 1);
    expect(s.listings()).toBe(1);
    await s.clock.advance(1);
    expect(s.listings()).toBe(2);
    expect(s.audit.releasedTotal).toBe(1);
    await s.audit.stop();
    await s.clock.advance(10 * INTERVAL);
    expect(s.listings()).toBe(2);
  });
});
