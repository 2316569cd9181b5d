import { ConfigError, loadSettings, SETTING_NAMES } from '../../config/settings.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadSettings(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('the configuration was accepted but was expected to be refused');
}

describe('settings', () => {
  test('defaults are the AWS VPC CNI shipped defaults and Tidepool defaults', () => {
    const s = loadSettings({});
    expect(s.pool).toEqual({
      warmEniTarget: 1,
      warmIpTarget: 0,
      minimumIpTarget: 0,
      warmPrefixTarget: 1,
      prefixDelegation: false,
      maxEni: -1,
      cooldownMs: 30000,
      policy: 'aws-compatible',
      comparisonMode: 'off',
      addWaitMs: 10000,
      scarcityPercent: 10,
    });
    expect(s.network).toMatchObject({
      eniMtu: 9001,
      podMtu: 9001,
      vethPrefix: 'eni',
      externalSnat: false,
      connmark: 0x80,
    });
    expect(s.cloud.provider).toBe('aws');
    expect(s.daemon).toMatchObject({
      socket: '/run/tidepool/ipamd.sock',
      stateDir: '/var/run/tidepool',
      introspectionAddr: '127.0.0.1:61679',
      metricsAddr: '127.0.0.1:61678',
      logLevel: 'info',
      logFile: 'stdout',
    });
  });

  test('every invalid variable is listed at once with its value and rule', () => {
    const err = configError({
      WARM_IP_TARGET: 'five',
      MAX_ENI: '1000',
      TIDEPOOL_PROVIDER: 'gcp',
      TIDEPOOL_INTROSPECTION_ADDR: 'localhost',
      AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS: '10.0.0.0/8,nonsense',
      AWS_VPC_K8S_CNI_VETHPREFIX: 'eth',
      ENABLE_PREFIX_DELEGATION: 'maybe',
      AWS_VPC_K8S_PLUGIN_LOG_FILE: 'stdout',
      ADDITIONAL_ENI_TAGS: '{not json',
      TIDEPOOL_ADD_WAIT_MS: '-1',
    });
    const byVar = Object.fromEntries(err.issues.map((i) => [i.variable, i]));
    expect(Object.keys(byVar).sort()).toEqual(
      [
        'ADDITIONAL_ENI_TAGS',
        'AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS',
        'AWS_VPC_K8S_CNI_VETHPREFIX',
        'AWS_VPC_K8S_PLUGIN_LOG_FILE',
        'ENABLE_PREFIX_DELEGATION',
        'MAX_ENI',
        'TIDEPOOL_ADD_WAIT_MS',
        'TIDEPOOL_INTROSPECTION_ADDR',
        'TIDEPOOL_PROVIDER',
        'WARM_IP_TARGET',
      ].sort(),
    );
    expect(byVar.WARM_IP_TARGET).toEqual({
      variable: 'WARM_IP_TARGET',
      value: 'five',
      rule: expect.stringContaining('integer'),
    });
    expect(byVar.MAX_ENI.rule).toBe('must be an integer between -1 and 100');
    expect(byVar.TIDEPOOL_PROVIDER.rule).toBe('must be one of sim, aws, azure');
    expect(byVar.AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS.rule).toContain('bad: nonsense');
    expect(byVar.TIDEPOOL_INTROSPECTION_ADDR.rule).toBe('must be host:port');
    // The message an operator reads names each variable with its value and the rule.
    expect(err.message).toContain('WARM_IP_TARGET="five": must be an integer');
    expect(err.message).toContain('TIDEPOOL_PROVIDER="gcp": must be one of sim, aws, azure');
    expect(err.message.split('\n')).toHaveLength(11);
  });

  test('prefix delegation with every target at 0 is refused, as the incumbent entrypoint does', () => {
    const err = configError({ ENABLE_PREFIX_DELEGATION: 'true', WARM_PREFIX_TARGET: '0' });
    expect(err.issues).toEqual([
      expect.objectContaining({
        variable: 'WARM_PREFIX_TARGET',
        value: '0',
        rule: expect.stringContaining('must be > 0'),
      }),
    ]);
    expect(
      loadSettings({ ENABLE_PREFIX_DELEGATION: 'true', WARM_PREFIX_TARGET: '0', WARM_IP_TARGET: '4' }).pool
        .prefixDelegation,
    ).toBe(true);
  });

  test('AWS precedence: POD_MTU falls back to AWS_VPC_ENI_MTU, MAX_ENI below 1 means no cap, endpoints', () => {
    expect(loadSettings({ AWS_VPC_ENI_MTU: '1500' }).network.podMtu).toBe(1500);
    expect(loadSettings({ AWS_VPC_ENI_MTU: '9001', POD_MTU: '1450' }).network.podMtu).toBe(1450);
    expect(loadSettings({ MAX_ENI: '0' }).pool.maxEni).toBe(-1);
    expect(loadSettings({ MAX_ENI: '3' }).pool.maxEni).toBe(3);
    expect(
      loadSettings({ AWS_ENDPOINT_URL_EC2: 'http://b', AWS_EC2_ENDPOINT: 'http://a' }).cloud.ec2Endpoint,
    ).toBe('http://a');
    expect(loadSettings({ AWS_ENDPOINT_URL_EC2: 'http://b' }).cloud.ec2Endpoint).toBe('http://b');
    expect(loadSettings({ IP_COOLDOWN_PERIOD: '5' }).pool.cooldownMs).toBe(5000);
  });

  test('booleans, tags, disabling introspection and metrics', () => {
    const s = loadSettings({
      AWS_VPC_K8S_CNI_EXTERNALSNAT: 'TRUE',
      TIDEPOOL_MANAGE_HOST_NETWORK: 'false',
      ADDITIONAL_ENI_TAGS: '{"team":"net","k8s.amazonaws.com/x":"dropped"}',
      DISABLE_INTROSPECTION: 'true',
      DISABLE_METRICS: '1',
    });
    expect(s.network.externalSnat).toBe(true);
    expect(s.network.manageHostNetwork).toBe(false);
    expect(s.cloud.additionalEniTags).toEqual({ team: 'net' });
    expect(s.daemon.introspectionAddr).toBeNull();
    expect(s.daemon.metricsAddr).toBeNull();
  });

  test('SETTING_NAMES lists the variables the daemon reads', () => {
    expect(SETTING_NAMES).toEqual(
      expect.arrayContaining(['WARM_ENI_TARGET', 'TIDEPOOL_SOCKET', 'TIDEPOOL_ADD_WAIT_MS']),
    );
  });
});
