// The daemon's budget with the Azure buckets (ipamd/providers.ts providerBudget): NIC writes are held to
// Microsoft.Network's 1,000 per 5 minutes per subscription, in virtual time.
import { loadSettings } from '../../config/settings.js';
import { CloudBudget } from '../../ipamd/cloud/budget.js';
import { providerBudget } from '../../ipamd/cloud/providers.js';
import { VirtualClock } from '../../providers/clock.js';

test('120 NIC writes: 20 at once, then at 1,000 per 5 minutes (3.3/s), so the last after 30 s', async () => {
  const clock = new VirtualClock(0);
  const budget = new CloudBudget({
    clock,
    ...providerBudget(loadSettings({ TIDEPOOL_PROVIDER: 'azure' })),
    concurrency: 50,
  });
  const done: number[] = [];
  const calls = Array.from({ length: 120 }, () =>
    budget.run('PutNetworkInterface', 'addresses', async () => void done.push(clock.now())),
  );
  while (done.length < 120) await clock.advance(1000);
  await Promise.all(calls);
  expect(done.filter((t) => t === 0)).toHaveLength(20);
  // After the first 20, at most 3.3 per second: 50 in the next 15 s (+1 for the window's edge).
  expect(done.filter((t) => t > 0 && t <= 15_000).length).toBeLessThanOrEqual(51);
  expect(Math.max(...done)).toBeGreaterThanOrEqual(29_000);
});
