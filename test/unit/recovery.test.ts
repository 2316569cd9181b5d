// Lost-state recovery (ipamd/recovery.ts, ipamd/hostnet/pods.ts): what the node's listings prove, how a
// start is judged (first start or lost state), and how the first listing's addresses are claimed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadSettings } from '../../config/settings.js';
import { VirtualClock } from '../../providers/clock.js';
import type { CloudInterface } from '../../providers/types.js';
import { podDatapaths, type NodePods } from '../../ipamd/hostnet/pods.js';
import { NodePool } from '../../ipamd/state/node-pool.js';
import {
  MARKER_FILE,
  QUARANTINE_NETWORK,
  RECOVERED_NETWORK,
  StateRecovery,
  type RecoveryOptions,
} from '../../ipamd/core/recovery.js';
import { StateStore } from '../../ipamd/state/store.js';

const V1 = 'eni0123456789a';
const V2 = 'enibbbbbbbbbbb';
const V3 = 'eniccccccccccc';

// As `ip -json` prints them: /32 destinations and selectors without a length.
const LINKS = [{ ifname: 'lo' }, { ifname: 'eth0' }, { ifname: V1 }, { ifname: V2 }, { ifname: 'eni1' }];
const ROUTES = [
  { dst: 'default', dev: 'eth0' },
  { dst: '10.0.0.0/20', dev: 'eth0' },
  { dst: '10.0.1.10', dev: V1 },
  { dst: '10.0.1.11', dev: V2 },
  { dst: '10.0.1.99', dev: 'eni1' },
];
const RULES = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 512, src: 'all', dst: '10.0.1.10', table: 'main' },
  { priority: 512, src: 'all', dst: '10.0.1.11', table: 'main' },
  { priority: 1536, src: '10.0.1.11', table: '3' },
  { priority: 32766, src: 'all', table: 'main' },
];

describe('podDatapaths', () => {
  it('lists the /32 routes to Tidepool-named veths with their 512 and 1536 rules, nothing else', () => {
    const pods = podDatapaths(LINKS, ROUTES, RULES, 'eni');
    expect(pods.veths).toEqual([V1, V2]);
    expect(pods.datapaths).toEqual([
      { address: '10.0.1.10', veth: V1, toRule: true, fromTable: undefined },
      { address: '10.0.1.11', veth: V2, toRule: true, fromTable: 3 },
    ]);
  });

  it('honours the veth prefix and ignores rules that are not host selectors', () => {
    expect(podDatapaths(LINKS, ROUTES, RULES, 'tp').veths).toEqual([]);
    const wide = podDatapaths(
      LINKS,
      ROUTES,
      [{ priority: 512, src: 'all', dst: '10.0.1.10', dstlen: 24, table: 'main' }],
      'eni',
    );
    expect(wide.datapaths[0].toRule).toBe(false);
  });
});

describe('TIDEPOOL_QUARANTINE_MS', () => {
  it('defaults to 10 minutes and refuses what is not a number of milliseconds in range, by name', () => {
    expect(loadSettings({}).network.quarantineMs).toBe(600_000);
    expect(loadSettings({ TIDEPOOL_QUARANTINE_MS: '0' }).network.quarantineMs).toBe(0);
    for (const bad of ['-1', '10m', '86400001']) {
      let err: unknown;
      try {
        loadSettings({ TIDEPOOL_QUARANTINE_MS: bad });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues.map((i) => i.variable)).toEqual(['TIDEPOOL_QUARANTINE_MS']);
    }
  });
});

const iface = (id: string, deviceNumber: number, addresses: string[]): CloudInterface => ({
  id,
  mac: `02:00:00:00:00:0${deviceNumber}`,
  deviceNumber,
  subnetId: 'subnet-1',
  subnetCidr: '10.0.0.0/20',
  primaryAddress: `10.0.0.${deviceNumber + 1}`,
  addresses,
  prefixes: [],
  status: 'attached',
  tags: {},
});

describe('StateRecovery', () => {
  let dir: string;
  let store: StateStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tp-recovery-unit-'));
    store = StateStore.open(':memory:');
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function setup(o: Partial<RecoveryOptions> & { pods?: NodePods | Error }) {
    const clock = new VirtualClock();
    const pool = new NodePool(store, clock);
    const reconciler = { ready: false };
    const core = {
      pool,
      reconciler,
      release: async (key: any) => {
        const r = pool.release(key, clock.now());
        return r ? pool.toAllocation(r) : null;
      },
      whenReady: () => new Promise<void>(() => undefined),
    } as unknown as RecoveryOptions['core'];
    const logs: string[] = [];
    const r = new StateRecovery({
      core,
      stateDir: dir,
      databaseCreated: true,
      quarantineMs: 5_000,
      readPods: async () => {
        if (o.pods instanceof Error) throw o.pods;
        return o.pods ?? { veths: [], datapaths: [] };
      },
      bootId: () => 'boot-a',
      clock,
      log: { info: (_o, m) => logs.push(m), warn: (_o, m) => logs.push(m) },
      ...o,
    });
    return { r, pool, clock, reconciler, logs };
  }
  const marker = (bootId: string) =>
    writeFileSync(join(dir, MARKER_FILE), JSON.stringify({ bootId, createdAt: 'then' }));

  it('judges a start: normal, first start, or lost state, and writes the marker of this boot', async () => {
    const normal = setup({ databaseCreated: false });
    await normal.r.prepare();
    expect(normal.r.mode).toBe('normal');
    expect(JSON.parse(readFileSync(join(dir, MARKER_FILE), 'utf8')).bootId).toBe('boot-a');

    rmSync(join(dir, MARKER_FILE));
    const first = setup({});
    await first.r.prepare();
    expect(first.r.mode).toBe('first-start');

    marker('boot-old'); // the node rebooted since: its pods went with it
    const rebooted = setup({});
    await rebooted.r.prepare();
    expect(rebooted.r.mode).toBe('first-start');

    marker('boot-a');
    const sameBoot = setup({});
    await sameBoot.r.prepare();
    expect(sameBoot.r.mode).toBe('lost-state');

    rmSync(join(dir, MARKER_FILE));
    const veths = setup({ pods: podDatapaths(LINKS, ROUTES, RULES, 'eni') });
    await veths.r.prepare();
    expect(veths.r.mode).toBe('lost-state');
    expect(veths.r.reasons).toEqual(['the node has 2 Tidepool host veths']);

    marker('boot-old'); // without a boot id, a marker is taken as this boot's
    const noBootId = setup({
      bootId: () => {
        throw new Error('ENOENT /proc/sys/kernel/random/boot_id');
      },
    });
    await noBootId.r.prepare();
    expect(noBootId.r.mode).toBe('lost-state');

    rmSync(join(dir, MARKER_FILE));
    const unreadable = setup({ pods: new Error('ip: cannot open netlink socket') });
    await unreadable.r.prepare();
    expect(unreadable.r.mode).toBe('lost-state');
  });

  it('a first start adopts the listing free', async () => {
    const first = setup({});
    await first.r.prepare();
    first.pool.addInterface(iface('eni-p', 0, ['10.0.1.10', '10.0.1.20']), true, 0);
    expect(first.pool.counts(first.clock.now())).toMatchObject({ free: 2, assigned: 0 });
  });

  it('recovers proven addresses (the rule table must match the owning interface), quarantines others', async () => {
    const pods = podDatapaths(
      [...LINKS, { ifname: V3 }],
      [...ROUTES, { dst: '10.0.2.12', dev: V3 }, { dst: '10.0.2.13', dev: V3 }],
      [...RULES, { priority: 512, src: 'all', dst: '10.0.2.12', table: 'main' }],
      'eni',
    );
    const { r, pool, clock, reconciler } = setup({ pods });
    await r.prepare();
    // The primary holds 10.0.1.10 (no 1536 rule: right); 10.0.1.11's rule points at table 3, but it is on
    // the primary: not proven. On device 2 (table 3) it would be.
    pool.addInterface(iface('eni-p', 0, ['10.0.1.10', '10.0.1.11', '10.0.1.20']), true, 0);
    // V3 routes two addresses: ambiguous, both quarantined.
    pool.addInterface(iface('eni-s', 2, ['10.0.2.12', '10.0.2.13', '10.0.2.14']), false, 0);
    const keys = [...pool.allocations.values()].map((a) => [a.key.network, a.key.containerId, a.address]);
    expect(keys).toEqual([
      [RECOVERED_NETWORK, V1, '10.0.1.10'],
      [QUARANTINE_NETWORK, '10.0.1.11', '10.0.1.11'],
      [QUARANTINE_NETWORK, '10.0.1.20', '10.0.1.20'],
      [QUARANTINE_NETWORK, '10.0.2.12', '10.0.2.12'],
      [QUARANTINE_NETWORK, '10.0.2.13', '10.0.2.13'],
      [QUARANTINE_NETWORK, '10.0.2.14', '10.0.2.14'],
    ]);
    expect(pool.counts(clock.now())).toMatchObject({ free: 0, assigned: 6 });
    expect(r.quarantinedNow.find((q) => q.address === '10.0.1.11')?.why).toContain('points at table 3');
    // In the store too: a restart keeps them.
    expect(store.load().allocations).toHaveLength(6);

    // Once the first listing is done, addresses from our own cloud calls are free again.
    reconciler.ready = true;
    pool.addAddresses('eni-s', ['10.0.2.15']);
    expect(pool.byAddress.get('10.0.2.15')?.state).toBe('free');

    // The Kubernetes hook frees quarantined addresses early; unknown or recovered ones are left alone.
    expect(await r.free(['10.0.1.20', '10.0.1.10', '10.9.9.9'], 'no pod holds it')).toEqual(['10.0.1.20']);
    expect(pool.byAddress.get('10.0.1.20')?.state).toBe('cooling');
    expect(r.quarantined().map((q) => q.address)).toEqual([
      '10.0.1.11',
      '10.0.2.12',
      '10.0.2.13',
      '10.0.2.14',
    ]);

    // The grace: the loop frees the rest once it is over, on the injected clock.
    r.start();
    await clock.advance(5_000);
    for (let i = 0; i < 20 && r.quarantined().length; i++) await new Promise((res) => setImmediate(res));
    expect(r.quarantined()).toEqual([]);
    expect(r.recovered().map((a) => a.address)).toEqual(['10.0.1.10']);
    expect(r.quarantineReleasedTotal).toBe(5);
    await r.stop();
  });

  it('releases a recovered allocation once its address is no longer routed to its veth, twice and past the grace', async () => {
    let pods = podDatapaths(LINKS, ROUTES, RULES, 'eni');
    const { r, pool, clock, reconciler } = setup({
      readPods: async () => pods,
      audit: { intervalMs: 1_000, graceMs: 2_000 },
    });
    await r.prepare();
    pool.addInterface(iface('eni-p', 0, ['10.0.1.10']), true, 0);
    pool.addInterface(iface('eni-s', 2, ['10.0.1.11']), false, 0);
    reconciler.ready = true;
    expect(r.recovered().map((a) => a.address)).toEqual(['10.0.1.10', '10.0.1.11']);
    // A new sandbox of V1's pod took the veth's name with another address; V2 is unchanged.
    pods = podDatapaths(LINKS, [{ dst: '10.0.1.50', dev: V1 }, ...ROUTES.slice(3)], RULES, 'eni');
    expect(await r.auditRecovered()).toEqual([]); // first miss
    expect(await r.auditRecovered()).toEqual([]); // second miss, but within the grace
    await clock.advance(2_000);
    expect((await r.auditRecovered()).map((a) => a.address)).toEqual(['10.0.1.10']);
    expect(r.recovered().map((a) => a.address)).toEqual(['10.0.1.11']);
    // A failed read releases nothing and starts the count over.
    pods = { veths: [], datapaths: [] };
    await r.auditRecovered();
    const failing = r as unknown as { o: { readPods: () => Promise<NodePods> } };
    failing.o.readPods = async () => {
      throw new Error('ip: cannot open netlink socket');
    };
    expect(await r.auditRecovered()).toEqual([]);
    failing.o.readPods = async () => pods;
    expect(await r.auditRecovered()).toEqual([]);
    expect((await r.auditRecovered()).map((a) => a.address)).toEqual(['10.0.1.11']);
    expect(r.recoveredReleasedTotal).toBe(2);
  });

  it('a restart that cut a recovery short recovers again, claiming what the store already holds free', async () => {
    const flags: boolean[] = [];
    const { r, pool } = setup({
      databaseCreated: false,
      pending: { get: () => true, set: (on) => flags.push(on) },
      pods: podDatapaths(LINKS, ROUTES, RULES, 'eni'),
    });
    // Loaded from the store: the interface was adopted before the restart, its addresses still free.
    pool.addInterface(iface('eni-p', 0, ['10.0.1.10', '10.0.1.20']), true, 0);
    await r.prepare();
    expect(r.mode).toBe('lost-state');
    expect(r.reasons[0]).toContain('cut short by a restart');
    expect(flags).toEqual([true]);
    r.claimLoaded();
    expect([...pool.allocations.values()].map((a) => [a.key.network, a.address])).toEqual([
      [RECOVERED_NETWORK, '10.0.1.10'],
      [QUARANTINE_NETWORK, '10.0.1.20'],
    ]);
  });

  it('a normal start leaves what the store loaded alone', async () => {
    const { r, pool } = setup({ databaseCreated: false, pending: { get: () => false, set: () => {} } });
    pool.addInterface(iface('eni-p', 0, ['10.0.1.10']), true, 0);
    await r.prepare();
    r.claimLoaded();
    expect(r.mode).toBe('normal');
    expect(pool.allocations.size).toBe(0);
  });
});
