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
