// The leaked-interface sweeper deletes unattached interfaces tagged for this node once they are old
// enough, through the daemon's budget, on its schedule — and nothing else.
import { VirtualClock } from '../../providers/clock.js';
import { createSimNode } from '../../providers/sim/inprocess.js';
import { TAG_NODE } from '../../providers/sim/node.js';
import { CloudBudget } from '../../ipamd/cloud/budget.js';
import { LeakSweeper, SWEEP_MIN_AGE_MS, SWEEP_PERIOD_MS } from '../../ipamd/cloud/sweeper.js';

const log = { info: () => {}, warn: () => {} };

async function setup() {
  const clock = new VirtualClock();
  const { cloud, provider, instanceId } = createSimNode({ clock, instanceType: 'm5.large' });
  const subnetId = cloud.inspect().subnets[0].id;
  const orphan = (tags: Record<string, string>) =>
    cloud.ec2.createNetworkInterface({ subnetId, tags }).then((i) => i.id);
  const budget = new CloudBudget({ clock });
  const sweeper = new LeakSweeper({ provider, budget, clock, log, firstDelayMs: 60_000 });
  const exists = (id: string) => cloud.inspect().interfaces.some((i) => i.id === id);
  return { clock, cloud, instanceId, orphan, sweeper, exists, budget };
}

describe('leaked-interface sweeper', () => {
  test('deletes this node’s unattached interfaces older than the age gate, on its schedule', async () => {
    const { clock, instanceId, orphan, sweeper, exists, budget } = await setup();
    const old = await orphan({ [TAG_NODE]: instanceId });
    const foreign = await orphan({ [TAG_NODE]: 'i-someone-else' });
    const untagged = await orphan({});
    sweeper.start();
    // First sweep after the start delay: the orphan is younger than 5 minutes, so it is kept.
    await clock.advance(61_000);
    expect(exists(old)).toBe(true);
    // Next sweep an hour later: now old enough.
    await clock.advance(SWEEP_PERIOD_MS);
    expect(exists(old)).toBe(false);
    expect(sweeper.deleted).toBe(1);
    // Other nodes' interfaces and untagged ones are never touched.
    expect(exists(foreign)).toBe(true);
    expect(exists(untagged)).toBe(true);
    expect(budget.recent().some((c) => c.action === 'SweepLeakedInterfaces')).toBe(true);
    await sweeper.stop();
  });

  test('a young orphan survives a sweep, an attached interface is never swept', async () => {
    const { clock, cloud, instanceId, orphan, sweeper, exists } = await setup();
    const attached = cloud
      .inspect()
      .interfaces.filter((i) => i.status !== 'available')
      .map((i) => i.id);
    expect(attached.length).toBeGreaterThan(0);
    await clock.advance(SWEEP_MIN_AGE_MS + 1);
    const young = await orphan({ [TAG_NODE]: instanceId });
    expect(await sweeper.sweepOnce()).toEqual([]);
    expect(exists(young)).toBe(true);
    for (const id of attached) expect(exists(id)).toBe(true);
  });

  test('stop() ends the loop before its first sweep', async () => {
    const { clock, instanceId, orphan, sweeper, exists } = await setup();
    const id = await orphan({ [TAG_NODE]: instanceId });
    await clock.advance(SWEEP_MIN_AGE_MS + 1);
    sweeper.start();
    await sweeper.stop();
    await clock.advance(2 * SWEEP_PERIOD_MS);
    expect(exists(id)).toBe(true);
  });
});
