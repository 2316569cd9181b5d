import { ConfigError, loadSettings, SETTING_NAMES } from '../../config/settings.js';

function issues(env: Record<string, string>) {
  try {
    loadSettings(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.variable}: ${i.rule}`);
    throw err;
  }
  throw new Error('the configuration was accepted but was expected to be refused');
}

describe('Azure settings', () => {
  test('defaults: subscription and resource group from IMDS (empty), the public ARM endpoint', () => {
    const s = loadSettings({ TIDEPOOL_PROVIDER: 'azure' });
    expect(s.cloud.provider).toBe('azure');
    expect(s.cloud.azure).toEqual({
      subscriptionId: '',
      resourceGroup: '',
      clientId: '',
      armEndpoint: 'https://management.azure.com',
    });
  });

  test.each([
    // [env, warm IP target, minimum IP target]
    [{}, 8, 16], // no target set: Azure CNI's 16 at start, 8 free, instead of a whole idle NIC
    [{ WARM_ENI_TARGET: '1', WARM_IP_TARGET: '0', MINIMUM_IP_TARGET: '0' }, 8, 16], // the chart's env map
    [{ WARM_IP_TARGET: '5' }, 5, 0], // an operator's target is kept
    [{ MINIMUM_IP_TARGET: '30' }, 0, 30],
    [{ ENABLE_PREFIX_DELEGATION: 'true' }, 0, 0], // /28 IP configurations: WARM_PREFIX_TARGET rules
  ] as [Record<string, string>, number, number][])(
    'pool targets on Azure with %j: WARM_IP_TARGET %i, MINIMUM_IP_TARGET %i',
    (env, warm, minimum) => {
      const s = loadSettings({ TIDEPOOL_PROVIDER: 'azure', ...env });
      expect([s.pool.warmIpTarget, s.pool.minimumIpTarget]).toEqual([warm, minimum]);
    },
  );

  test('the Azure pool defaults do not apply on AWS', () => {
    const s = loadSettings({ TIDEPOOL_PROVIDER: 'aws' });
    expect([s.pool.warmEniTarget, s.pool.warmIpTarget, s.pool.minimumIpTarget]).toEqual([1, 0, 0]);
  });

  test('values are taken as given (subscription lower-cased, trailing slash dropped)', () => {
    const s = loadSettings({
      AZURE_SUBSCRIPTION_ID: 'AAAAAAAA-1111-2222-3333-444444444444',
      AZURE_RESOURCE_GROUP: 'MC_rg(prod).nodes',
      AZURE_CLIENT_ID: '0f0f0f0f-1111-2222-3333-444444444444',
      AZURE_ARM_ENDPOINT: 'https://management.usgovcloudapi.net/',
    });
    expect(s.cloud.azure).toEqual({
      subscriptionId: 'aaaaaaaa-1111-2222-3333-444444444444',
      resourceGroup: 'MC_rg(prod).nodes',
      clientId: '0f0f0f0f-1111-2222-3333-444444444444',
      armEndpoint: 'https://management.usgovcloudapi.net',
    });
  });

  test('every bad Azure value is named with its rule', () => {
    expect(
      issues({
        AZURE_SUBSCRIPTION_ID: 'my-subscription',
        AZURE_RESOURCE_GROUP: 'bad/group.',
        AZURE_CLIENT_ID: '1234',
        AZURE_ARM_ENDPOINT: 'http://management.azure.com',
      }),
    ).toEqual([
      'AZURE_SUBSCRIPTION_ID: must be a GUID, e.g. 00000000-0000-0000-0000-000000000000',
      'AZURE_RESOURCE_GROUP: must be 1 to 90 letters, digits, _ - . ( ), not ending in a period',
      'AZURE_CLIENT_ID: must be a GUID, e.g. 00000000-0000-0000-0000-000000000000',
      'AZURE_ARM_ENDPOINT: must be an https:// URL with no path, e.g. https://management.azure.com',
    ]);
    expect(issues({ AZURE_ARM_ENDPOINT: 'https://management.azure.com/subscriptions' })).toHaveLength(1);
    expect(issues({ AZURE_RESOURCE_GROUP: 'x'.repeat(91) })).toHaveLength(1);
  });

  test('SETTING_NAMES lists the Azure variables', () => {
    expect(SETTING_NAMES).toEqual(
      expect.arrayContaining([
        'AZURE_SUBSCRIPTION_ID',
        'AZURE_RESOURCE_GROUP',
        'AZURE_CLIENT_ID',
        'AZURE_ARM_ENDPOINT',
      ]),
    );
  });
});
