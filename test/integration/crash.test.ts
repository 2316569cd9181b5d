// Crash test (issue 2, Show): a real tidepool-ipamd on a real tidepool-sim server, 1000 Allocate/Release
// calls from several concurrent gRPC clients, `kill -9` of the daemon at 20 random instants with a restart
// each time. Every call the clients saw succeed is written to a ledger with its time; afterwards:
//  1. no address was ever held by two live allocations (the held intervals of one address never overlap);
//  2. every allocation a client saw succeed is still present (same address) or was released by that client,
//     and the daemon holds nothing else;
//  3. after one reconcile (a clean restart lists the cloud), the daemon's pool matches the sim's view of
//     the node's interfaces, and no interface of the node is left unattached in the cloud.
import { TAG_NODE } from '../../providers/sim/node.js';
import { uniform } from '../../providers/sim/random.js';
import { TestNode } from '../helpers/daemon.js';
import { grpcStatus, IpamClient, type GrpcError } from '../helpers/ipam-client.js';

const TOTAL_CALLS = 1000;
const KILLS = 20;
const CLIENTS = 6;
const SEED = Number(process.env.TIDEPOOL_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

interface Held {
  containerId: string;
  address: string;
  /** When the client received the successful Allocate (the address is surely held from here). */
  heldFrom: number;
  /** When the client first asked to release it (the address may be free from here); Infinity while held. */
  heldUntil: number;
  releasedAck?: { released: boolean; address: string; afterFailures: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const retryable = (e: GrpcError) =>
  [
    grpcStatus.UNAVAILABLE,
    grpcStatus.DEADLINE_EXCEEDED,
    grpcStatus.CANCELLED,
    grpcStatus.INTERNAL,
    grpcStatus.UNKNOWN,
  ].includes(e.code);

let node: TestNode | undefined;
afterAll(async () => {
  await node?.cleanup();
});

test(`${TOTAL_CALLS} Allocate/Release calls with ${KILLS} kill -9 of the daemon: no double hold, nothing lost, pool matches the cloud`, async () => {
  // Seeded, so a failing run can be replayed with TIDEPOOL_CRASH_SEED.
  const random = uniform(SEED);
  const context = `(seed ${SEED}: rerun with TIDEPOOL_CRASH_SEED=${SEED})`;
  node = await TestNode.create({
    instanceType: 'm5.xlarge',
    // A realistic but 10x faster cloud: kills land in cloud calls too (grow, shrink, attach).
    args: ['--latency', 'realistic', '--latency-scale', '0.1', '--seed', String(SEED % 100000)],
    env: {
      WARM_IP_TARGET: '4',
      MINIMUM_IP_TARGET: '6',
      IP_COOLDOWN_PERIOD: '1',
      TIDEPOOL_ADD_WAIT_MS: '10000',
    },
  });
  const daemon = node.daemon;
  const ledger: Held[] = [];
  const violations: string[] = [];
  let calls = 0;
  let failedAttempts = 0;
  const clients = Array.from({ length: CLIENTS }, () => new IpamClient(daemon.socket));

  const key = (containerId: string) => ({ network: 'tidepool', containerId, ifname: 'eth0' });

  async function allocate(client: IpamClient, containerId: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await client.allocate(
          {
            ...key(containerId),
            netns: `/var/run/netns/${containerId}`,
            podNamespace: 'crash',
            podName: containerId,
          },
          15_000,
        );
        ledger.push({ containerId, address: res.address, heldFrom: performance.now(), heldUntil: Infinity });
        return;
      } catch (err) {
        const e = err as GrpcError;
        if (e.code === grpcStatus.RESOURCE_EXHAUSTED) return; // node full: nothing allocated for this key
        if (!retryable(e)) throw e;
        failedAttempts++;
        await sleep(20 + attempt * 10);
      }
    }
  }

  async function release(client: IpamClient, h: Held): Promise<void> {
    h.heldUntil = performance.now();
    for (let failures = 0; ; failures++) {
      try {
        const res = await client.release({ ...key(h.containerId), reason: 'crash-test' }, 15_000);
        h.releasedAck = { released: res.released, address: res.address, afterFailures: failures };
        return;
      } catch (err) {
        const e = err as GrpcError;
        if (!retryable(e)) throw e;
        failedAttempts++;
        await sleep(20 + failures * 10);
      }
    }
  }

  async function worker(w: number): Promise<void> {
    const client = clients[w];
    const mine: Held[] = [];
    let n = 0;
    while (calls < TOTAL_CALLS) {
      calls++;
      if (mine.length < 2 || (mine.length < 8 && random() < 0.55)) {
        const before = ledger.length;
        await allocate(client, `c${w}x${n++}`);
        if (ledger.length > before) mine.push(ledger[ledger.length - 1]);
      } else {
        const h = mine.splice(Math.floor(random() * mine.length), 1)[0];
        await release(client, h);
      }
    }
  }

  // Kill -9 at 20 random instants: when the count of calls crosses a random mark, after a random delay
  // that lands the signal in the middle of calls, store transactions or cloud calls.
  const marks = Array.from({ length: KILLS }, () => 20 + Math.floor(random() * (TOTAL_CALLS - 60))).sort(
    (a, b) => a - b,
  );
  let kills = 0;
  async function killer(): Promise<void> {
    for (const mark of marks) {
      while (calls < mark) await sleep(2);
      await sleep(random() * 25);
      daemon.proc.kill('SIGKILL');
      await daemon.proc.exited;
      kills++;
      daemon.spawn();
    }
  }

  await Promise.all([killer(), ...clients.map((_, w) => worker(w))]);
  expect(kills).toBe(KILLS);
  expect(daemon.starts).toBe(KILLS + 1);

  // 1. No address held by two live allocations: the held intervals of each address are disjoint.
  const byAddress = new Map<string, Held[]>();
  for (const h of ledger) byAddress.set(h.address, [...(byAddress.get(h.address) ?? []), h]);
  for (const [address, list] of byAddress) {
    list.sort((a, b) => a.heldFrom - b.heldFrom);
    for (let i = 1; i < list.length; i++)
      if (list[i].heldFrom < list[i - 1].heldUntil)
        violations.push(`${address} held by ${list[i - 1].containerId} and ${list[i].containerId} at once`);
  }
  // A Release answered on its first attempt must have found the allocation, with the address the client got.
  for (const h of ledger) {
    const r = h.releasedAck;
    if (r && r.released && r.address !== h.address)
      violations.push(`${h.containerId}: released ${r.address}, but was allocated ${h.address}`);
    if (r && !r.released && r.afterFailures === 0)
      violations.push(
        `${h.containerId}: the daemon had lost the allocation of ${h.address} before its release`,
      );
  }

  // 2. After a clean restart (one reconcile), every allocation still held is present, and nothing else.
  daemon.proc.kill('SIGTERM');
  expect(await daemon.proc.exited).toEqual({ code: 0, signal: null });
  await daemon.start({ serving: true });
  const check = new IpamClient(daemon.socket);
  const stillHeld = ledger.filter((h) => h.heldUntil === Infinity);
  for (const h of stillHeld) {
    const c = await check.check(key(h.containerId));
    if (!c.found || c.address !== h.address)
      violations.push(
        `${h.containerId}: allocated ${h.address}, never released, but the daemon has ${c.found ? c.address : 'nothing'}`,
      );
  }
  check.close();
  const daemonAllocations =
    await daemon.introspect<{ key: { containerId: string }; address: string }[]>('/v1/allocations');
  const expected = new Map(stillHeld.map((h) => [h.containerId, h.address]));
  for (const a of daemonAllocations)
    if (expected.get(a.key.containerId) !== a.address)
      violations.push(`the daemon holds ${a.key.containerId} → ${a.address}, which no client holds (leak)`);
  const daemonAddresses = daemonAllocations.map((a) => a.address);
  expect(new Set(daemonAddresses).size).toBe(daemonAddresses.length);

  // 3. The daemon's pool matches the cloud's view of the node's interfaces (polled: the pool may still be
  // adjusting to its targets right after the restart, and both views must agree once it settles).
  type View = Record<string, string[]>;
  const daemonView = async (): Promise<View> => {
    const itfs =
      await daemon.introspect<{ id: string; addresses: { address: string }[] }[]>('/v1/interfaces');
    return Object.fromEntries(itfs.map((i) => [i.id, i.addresses.map((a) => a.address).sort()]));
  };
  const cloudView = async (): Promise<View> => {
    const itfs = await node!.sim.interfacesOf(daemon.instanceId);
    return Object.fromEntries(itfs.map((i) => [i.id, [...i.addresses].sort()]));
  };
  let views: [View, View] = [await daemonView(), await cloudView()];
  const deadline = Date.now() + 30_000;
  while (JSON.stringify(views[0]) !== JSON.stringify(views[1]) && Date.now() < deadline) {
    await sleep(200);
    views = [await daemonView(), await cloudView()];
  }
  expect(views[0]).toEqual(views[1]);
  // Assigned addresses are addresses the cloud gave this node.
  const cloudAddresses = new Set(Object.values(views[1]).flat());
  for (const a of daemonAddresses) expect(cloudAddresses).toContain(a);
  // No interface of this node left created-but-unattached by a crash between create and attach.
  const state = await node.sim.admin.state();
  const orphans = state.interfaces.filter((i) => i.tags[TAG_NODE] === daemon.instanceId && !i.attachment);
  expect(orphans.map((i) => `${i.id} (${i.status})`)).toEqual([]);

  expect({ violations, context }).toEqual({ violations: [], context });
  // The run did what it claims: many allocations, releases and retried calls across the kills.
  expect(ledger.length).toBeGreaterThan(300);
  expect(ledger.filter((h) => h.releasedAck).length).toBeGreaterThan(200);
  process.stdout.write(
    `crash test ${context}: ${ledger.length} allocations, ${ledger.filter((h) => h.releasedAck).length} releases, ` +
      `${failedAttempts} failed attempts retried, ${kills} kills, ${byAddress.size} distinct addresses\n`,
  );
  for (const c of clients) c.close();
}, 300_000);
