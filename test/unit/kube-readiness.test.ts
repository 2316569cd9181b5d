import { loadSettings } from '../../config/settings.js';
import { eniConfigName, parseEniConfig, EniConfigError } from '../../ipamd/kube/eniconfig.js';
import { identityMismatches, nodeIdentity, parseProviderId } from '../../ipamd/kube/node-identity.js';
import { podGone } from '../../ipamd/kube/pods.js';
import { evaluateReadiness, hasWarmTarget, type ReadinessInput } from '../../ipamd/kube/readiness.js';
import type { Allocation } from '../../ipamd/core/types.js';

const base: ReadinessInput = {
  serving: true,
  stopping: false,
  started: true,
  free: 3,
  assigned: 1,
  cooling: 0,
  total: 4,
  capacity: 29,
  interfaces: 1,
  fullMessage: null,
  growthPausedSec: 0,
  recentCloudError: null,
  waitingOn: 'no cloud call in flight',
  warmTarget: true,
  wasReady: false,
};

describe('node network readiness from the pool', () => {
  test.each([
    ['free addresses', {}, true, 'PoolReady', true],
    ['stopping', { stopping: true }, false, 'DaemonStopping', false],
    ['not serving its socket', { serving: false }, false, 'DaemonNotServing', false],
    ['first listing not done', { started: false }, false, 'PoolStarting', false],
    ['warm pool not there yet', { free: 0, total: 0, assigned: 0 }, false, 'PoolWarming', false],
    ['no warm target: on demand', { free: 0, warmTarget: false }, true, 'PoolOnDemand', true],
    ['was ready, pool growing', { free: 0, wasReady: true }, true, 'PoolGrowing', true],
    [
      'node full after ready',
      { free: 0, wasReady: true, fullMessage: 'node full: 28 of 28' },
      false,
      'NodeFull',
      true,
    ],
    ['node full at boot', { free: 0, fullMessage: 'node full: 28 of 28' }, false, 'NodeFull', false],
    ['subnet full', { free: 0, wasReady: true, growthPausedSec: 90 }, false, 'SubnetFull', true],
    [
      'cloud failing',
      { free: 0, wasReady: true, recentCloudError: 'UnauthorizedOperation' },
      false,
      'CloudCallsFailing',
      true,
    ],
  ] as const)('%s', (_name, over, ready, reason, statusOk) => {
    const r = evaluateReadiness({ ...base, ...over });
    expect({ ready: r.ready, reason: r.reason, statusOk: r.statusOk }).toEqual({ ready, reason, statusOk });
  });

  test('the message says free and total addresses', () => {
    expect(evaluateReadiness({ ...base, free: 0, wasReady: true, fullMessage: 'node full' }).message).toMatch(
      /0 free of 4 addresses \(1 assigned, 0 cooling\) on 1 interface, capacity 29/,
    );
  });

  test('warm targets as the policy reads them', () => {
    expect(hasWarmTarget(loadSettings({}).pool)).toBe(true);
    expect(hasWarmTarget(loadSettings({ WARM_ENI_TARGET: '0' }).pool)).toBe(false);
    expect(hasWarmTarget(loadSettings({ WARM_ENI_TARGET: '0', MINIMUM_IP_TARGET: '2' }).pool)).toBe(true);
  });
});

describe('ENIConfig selection, as the incumbent', () => {
  const s = {
    eniConfigLabel: 'k8s.amazonaws.com/eniConfig',
    eniConfigAnnotation: 'k8s.amazonaws.com/eniConfig',
  };
  test('external label, then annotation, then label, then default', () => {
    const labels = { 'vpc.amazonaws.com/externalEniConfig': 'ext', 'k8s.amazonaws.com/eniConfig': 'lab' };
    const annotations = { 'k8s.amazonaws.com/eniConfig': 'ann' };
    expect(eniConfigName({ labels, annotations }, s)).toBe('ext');
    expect(eniConfigName({ labels: { 'k8s.amazonaws.com/eniConfig': 'lab' }, annotations }, s)).toBe('ann');
    expect(eniConfigName({ labels: { 'k8s.amazonaws.com/eniConfig': 'lab' }, annotations: {} }, s)).toBe(
      'lab',
    );
    expect(eniConfigName({ labels: {}, annotations: {} }, s)).toBe('default');
  });
  test('ENI_CONFIG_LABEL_DEF=topology.kubernetes.io/zone selects by zone name', () => {
    const zone = { ...s, eniConfigLabel: 'topology.kubernetes.io/zone' };
    expect(
      eniConfigName({ labels: { 'topology.kubernetes.io/zone': 'us-east-1b' }, annotations: {} }, zone),
    ).toBe('us-east-1b');
  });
  test('an ENIConfig without a subnet is refused, naming it', () => {
    expect(() => parseEniConfig('az1', { spec: {} })).toThrow(EniConfigError);
    expect(() => parseEniConfig('az1', { spec: {} })).toThrow(/ENIConfig az1 has no spec.subnet/);
    expect(parseEniConfig('az1', { spec: { subnet: 'subnet-1', securityGroups: ['sg-1'] } })).toEqual({
      name: 'az1',
      subnet: 'subnet-1',
      securityGroups: ['sg-1'],
    });
  });
});

describe('the Node instead of guesses', () => {
  test('providerID in the AWS forms', () => {
    expect(parseProviderId('aws:///us-east-1a/i-0abc')).toEqual({ zone: 'us-east-1a', instanceId: 'i-0abc' });
    expect(parseProviderId('aws://us-east-1a/i-0abc')).toEqual({ zone: 'us-east-1a', instanceId: 'i-0abc' });
    expect(parseProviderId('azure:///subscriptions/x')).toEqual({});
    expect(parseProviderId(undefined)).toEqual({});
  });
  test('labels, and mismatches with the cloud', () => {
    const id = nodeIdentity({
      metadata: {
        name: 'n1',
        uid: 'u',
        labels: {
          'topology.kubernetes.io/zone': 'us-east-1a',
          'node.kubernetes.io/instance-type': 'm5.large',
        },
      },
      spec: { providerID: 'aws:///us-east-1a/i-1' },
    });
    expect(id).toMatchObject({ zone: 'us-east-1a', instanceType: 'm5.large', instanceId: 'i-1' });
    expect(
      identityMismatches(id, { instanceId: 'i-1', instanceType: 'm5.large', zone: 'us-east-1a' }),
    ).toEqual([]);
    expect(
      identityMismatches(id, { instanceId: 'i-2', instanceType: 'm5.large', zone: 'us-east-1a' }),
    ).toHaveLength(1);
  });
});

describe('which allocations belong to gone pods', () => {
  const alloc = (ns: string, name: string, uid = 'u1'): Allocation => ({
    key: { network: 'tidepool', containerId: 'c1', ifname: 'eth0' },
    pod: { namespace: ns, name, uid, netns: '/x' },
    address: '10.0.0.5',
    interfaceId: 'eni-1',
    deviceNumber: 0,
    routeTable: 254,
    subnetGateway: '10.0.0.1',
    subnetCidr: '10.0.0.0/24',
    allocatedAt: 0,
  });
  const pod = (uid: string, phase = 'Running') => ({ metadata: { uid }, status: { phase } });
  test.each([
    ['live pod', pod('u1'), null],
    ['deleted', undefined, 'pod deleted'],
    ['replaced by a pod of the same name', pod('u2'), 'pod replaced (new uid)'],
    ['finished', pod('u1', 'Succeeded'), 'pod Succeeded'],
    ['failed', pod('u1', 'Failed'), 'pod Failed'],
  ] as const)('%s', (_n, p, why) => {
    expect(podGone(alloc('default', 'web'), () => p)).toBe(why);
  });
  test('an allocation made for no Kubernetes pod is never judged', () => {
    expect(podGone(alloc('', ''), () => undefined)).toBeNull();
  });
});

describe('Kubernetes settings', () => {
  test('off without a cluster, so the daemon runs as before', () => {
    expect(loadSettings({}).kube.enabled).toBe(false);
  });
  test('auto with KUBECONFIG needs MY_NODE_NAME', () => {
    expect(() => loadSettings({ KUBECONFIG: '/k' })).toThrow(/MY_NODE_NAME/);
    const s = loadSettings({ KUBECONFIG: '/k', MY_NODE_NAME: 'n1' });
    expect(s.kube).toMatchObject({ enabled: true, inCluster: false, kubeconfig: '/k', nodeName: 'n1' });
    expect(loadSettings({ KUBERNETES_SERVICE_HOST: '10.96.0.1', MY_NODE_NAME: 'n1' }).kube.inCluster).toBe(
      true,
    );
  });
  test('custom networking without Kubernetes is refused', () => {
    expect(() => loadSettings({ AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: 'true' })).toThrow(
      /AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG/,
    );
  });
  test('the incumbent defaults of the ENIConfig label and annotation', () => {
    const k = loadSettings({}).kube;
    expect(k.eniConfigLabel).toBe('k8s.amazonaws.com/eniConfig');
    expect(k.eniConfigAnnotation).toBe('k8s.amazonaws.com/eniConfig');
  });
});
