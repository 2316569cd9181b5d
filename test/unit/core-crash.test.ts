// Crashes at random instants, in virtual time: the state database is cut off mid-flight (as kill -9 cuts
// it: every committed transaction stays, nothing after it lands), cloud calls already sent still take
// effect in the cloud, and a new incarnation (new store handle, new provider object) starts on the same
// file and the same sim cloud. After each restart:
// - no address is held by two allocations;
// - every allocation a client saw succeed, and did not release, is still there;
// - once the pool has settled, it holds exactly what the cloud lists for the node.
import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../../config/settings.js';
import { IpamCore } from '../../ipamd/core/core.js';
import { StateStore } from '../../ipamd/state/store.js';
import { VirtualClock } from '../../providers/clock.js';
import { InProcessSimProvider, launchSimNode } from '../../providers/sim/inprocess.js';
import { SimCloud } from '../../providers/sim/cloud.js';
import { key, pod, seeded, settle } from './core.harness.js';

const dir = mkdtempSync(join(tmpdir(), 'core-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('crash at random instants', () => {
  test('20 crashes under concurrent churn: no double allocation, nothing acknowledged lost, pool = cloud', async () => {
    const clock = new VirtualClock();
    const rand = seeded(2026);
    const cloud = new SimCloud({ clock, seed: 11, latency: 'realistic' });
    const instanceId = launchSimNode(cloud, { instanceType: 'm5.xlarge' }).instanceId;
    const file = join(dir, 'state.db');
    const settings = loadSettings({ TIDEPOOL_PROVIDER: 'sim', WARM_IP_TARGET: '3', IP_COOLDOWN_PERIOD: '5' });
    const acknowledged = new Map<string, string>(); // containerId → address the client was given
    let seq = 0;

    for (let life = 0; life < 20; life++) {
      const store = StateStore.open(file, () => clock.now());
      const provider = new InProcessSimProvider({ cloud, instanceId });
      const core = new IpamCore({ settings, provider, store, clock, budget: { random: seeded(life) } });
      const starting = core.start();
      starting.catch(() => undefined);

      // Everything acknowledged before the crash is still allocated, to the same address.
      for (const [id, address] of acknowledged) expect(core.check(key(id))?.address).toBe(address);
      await settle(clock, starting);

      // Churn: clients allocate and release concurrently while time runs; the crash comes at a random instant.
      const crashAt = clock.now() + 2_000 + Math.floor(rand() * 60_000);
      const inFlight: Promise<unknown>[] = [];
      while (clock.now() < crashAt) {
        if ((rand() < 0.55 || acknowledged.size < 5) && acknowledged.size < 40) {
          const id = `c${seq++}`;
          inFlight.push(
            core.allocate(key(id), pod(id)).then(
              (r) => acknowledged.set(id, r.allocation.address),
              () => undefined,
            ),
          );
        } else {
          const ids = [...acknowledged.keys()];
          const id = ids[Math.floor(rand() * ids.length)];
          // The client counts a release as done only once it returns.
          inFlight.push(
            core.release(key(id), 'churn').then(
              () => acknowledged.delete(id),
              () => undefined,
            ),
          );
        }
        await clock.advance(Math.floor(rand() * 400));
      }
      // kill -9: the database stops taking writes now; the old incarnation's timers and calls die with it.
      store.close();
      void core.stop().catch(() => undefined);
      await clock.advance(3_000); // cloud calls already sent complete in the cloud

      const addresses = [...acknowledged.values()];
      expect(new Set(addresses).size).toBe(addresses.length);
    }

    // Final incarnation: settle and compare with the cloud.
    const store = StateStore.open(file, () => clock.now());
    const provider = new InProcessSimProvider({ cloud, instanceId });
    const core = new IpamCore({ settings, provider, store, clock });
    await settle(clock, core.start());
    for (const [id, address] of acknowledged) expect(core.check(key(id))?.address).toBe(address);
    await clock.advance(130_000); // past the resync grace
    const listed = await settle(clock, provider.listInterfaces());
    const cloudView = listed.flatMap((i) => i.addresses.map((a) => `${i.id}/${a}`)).sort();
    const poolView = core
      .snapshot()
      .interfaces.flatMap((i) => i.addresses.map((a) => `${i.id}/${a.address}`))
      .sort();
    expect(poolView).toEqual(cloudView);
    const held = core.snapshot().allocations.map((a) => a.address);
    expect(new Set(held).size).toBe(held.length);
    // The run did exercise growth and shrink across the crashes.
    const stats = cloud.callStats();
    for (const action of [
      'AssignPrivateIpAddresses',
      'UnassignPrivateIpAddresses',
      'AttachNetworkInterface',
      'DetachNetworkInterface',
    ])
      expect(stats[action]?.calls ?? 0).toBeGreaterThan(0);
    expect(seq).toBeGreaterThan(500);
    await settle(clock, core.stop());
  });
});
