import { loadSettings } from '../../config/settings.js';
import * as errors from '../../providers/errors.js';
import {
  createProvider,
  DeferredProvider,
  providerBudget,
  withDaemonErrors,
} from '../../ipamd/cloud/providers.js';
import { createSimNode } from '../../providers/sim/inprocess.js';
import { silentLogger } from '../../ipamd/log.js';

// Another bundle's copy of the error classes: same names, different identities (as dist/lib/provider-aws.js).
class ThrottledError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly action: string,
  ) {
    super(message);
    this.name = 'ThrottledError';
  }
}

describe('provider factory', () => {
  test('errors of a separately bundled provider become the daemon classes of the same name', async () => {
    const foreign = {
      name: 'foreign',
      assignAddresses: async () => {
        throw new ThrottledError(
          'Request limit exceeded',
          'RequestLimitExceeded',
          'AssignPrivateIpAddresses',
        );
      },
      listSubnets: () => {
        throw new Error('plain');
      },
      setJournal: (j: unknown) => j,
    };
    const p = withDaemonErrors(foreign);
    const err = await p.assignAddresses().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.ThrottledError);
    expect(errors.isRetryable(err)).toBe(true);
    expect(err).toMatchObject({
      message: 'Request limit exceeded',
      code: 'RequestLimitExceeded',
      action: 'AssignPrivateIpAddresses',
    });
    expect(() => p.listSubnets()).toThrow('plain');
    expect(p.setJournal(7)).toBe(7);
    expect(p.name).toBe('foreign');
  });

  test('azure gives the lazily loaded Azure provider, on the subscription write budget', async () => {
    const settings = loadSettings({
      TIDEPOOL_PROVIDER: 'azure',
      TIDEPOOL_IMDS_ENDPOINT: 'http://127.0.0.1:1',
    });
    const p = await createProvider(settings, silentLogger());
    expect(p.name).toBe('azure');
    await expect(p.describeNode()).rejects.toThrow(/Azure IMDS is unreachable/);
    expect(providerBudget(settings).buckets?.addresses?.refillPerSec).toBeCloseTo(1000 / 300);
    expect(providerBudget(loadSettings({ TIDEPOOL_PROVIDER: 'aws' }))).toEqual({});
  });

  test('sim gives a provider for the configured endpoint and instance', async () => {
    const p = await createProvider(
      loadSettings({
        TIDEPOOL_PROVIDER: 'sim',
        TIDEPOOL_SIM_ENDPOINT: '/nonexistent/sim.sock',
        TIDEPOOL_SIM_INSTANCE_ID: 'i-abc',
      }),
      silentLogger(),
    );
    expect(p.name).toBe('sim');
    await expect(p.describeNode()).rejects.toThrow();
    await p.close?.();
  });

  test('a deferred provider answers once its module has loaded, with the journal handed over', async () => {
    const { provider } = createSimNode({ instanceType: 'm5.large' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const journal = { begin: () => 1, update: () => {}, end: () => {} };
    const handed: unknown[] = [];
    const deferred = new DeferredProvider('sim', async () => {
      await gate;
      const original = provider.setJournal.bind(provider);
      provider.setJournal = (j) => (handed.push(j), original(j));
      return provider;
    });
    deferred.setJournal(journal);
    const node = deferred.describeNode();
    release();
    expect((await node).instanceType).toBe('m5.large');
    expect(handed).toEqual([journal]);
    expect((await deferred.listInterfaces()).length).toBe(1);
  });

  test('a deferred provider whose module fails to load rejects every call with that error', async () => {
    const deferred = new DeferredProvider('aws', async () => {
      throw new Error('cannot load dist/lib/provider-aws.js');
    });
    await expect(deferred.listInterfaces()).rejects.toThrow('cannot load dist/lib/provider-aws.js');
    await expect(deferred.close()).resolves.toBeUndefined();
  });
});
