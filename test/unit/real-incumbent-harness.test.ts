// The real-incumbent harness's own logic (test/bench/lib/aws-vpc-cni.ts, burst-real.ts) and the EC2
// fidelity layer's pure parts (localstack/ec2-fidelity.ts). Needs neither the built AWS VPC CNI nor
// LocalStack; the layer against LocalStack is test/integration/ec2-fidelity.test.ts.
import protobuf from 'protobufjs';
import {
  addressesIn,
  bucketFor,
  latencyFor,
  rewriteAssignAnswer,
  sampleMs,
  usableAddresses,
} from '../../localstack/ec2-fidelity.js';
import { SeededRandom } from '../../providers/sim/random.js';
import {
  agentEnv,
  awsConflist,
  decodeAddReply,
  encodeAddNetwork,
  mountNamespaceScript,
  poolFromIntrospection,
} from '../bench/lib/aws-vpc-cni.js';
import { benchLines, summarise } from '../bench/lib/burst-real.js';

describe('the agent environment', () => {
  const env = agentEnv({ nodeName: 'node-1', subnetCidr: '10.42.0.0/20', clusterName: 'c' });
  test('points EC2 and IMDS at the node subnet gateway only, with static credentials', () => {
    expect(env.AWS_EC2_ENDPOINT).toBe('http://10.42.0.1:4566');
    expect(env.AWS_EC2_METADATA_SERVICE_ENDPOINT).toBe('http://10.42.0.1:8169');
    expect(env.AWS_ACCESS_KEY_ID).toBe('test');
    expect(Object.values(env).some((v) => /127\.0\.0\.1|amazonaws\.com/.test(v))).toBe(false);
  });
  test('has the settings the reference says it needs, and no way to a Kubernetes API', () => {
    expect(env.ENABLE_IPv4).toBe('true');
    expect(env.AWS_MANAGE_ENIS_NON_SCHEDULABLE).toBe('true');
    expect(env.AWS_VPC_K8S_CNI_LOG_FILE).toBe('stdout');
    expect(env.AWS_VPC_K8S_CNI_BACKING_STORE).toBe('/var/run/aws-node/ipam.json');
    expect(env).not.toHaveProperty('NETWORK_POLICY_ENFORCING_MODE');
    for (const k of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'CLUSTER_ENDPOINT', 'HOME'])
      expect(env).not.toHaveProperty(k);
  });
  test('rejects a subnet that is not a CIDR', () => {
    expect(() => agentEnv({ nodeName: 'n', subnetCidr: 'nonsense', clusterName: 'c' })).toThrow();
  });
});

test("the plugin's configuration is aws-cni's entry of 10-aws.conflist, logging where we say", () => {
  const c = awsConflist('/x/plugin.log');
  expect(c.plugins).toHaveLength(1);
  expect(c.plugins[0]).toMatchObject({ type: 'aws-cni', vethPrefix: 'eni', pluginLogFile: '/x/plugin.log' });
});

test('the mount namespace script binds every directory, quoted, and then execs the agent', () => {
  const s = mountNamespaceScript(
    [
      { source: "/tmp/a b/it's", target: '/run/aws-node' },
      { source: '/tmp/l', target: '/var/log/aws-routed-eni' },
    ],
    '/cache/bin/aws-k8s-agent',
  );
  expect(s.split('\n')).toEqual([
    'set -e',
    `mount --bind '/tmp/a b/it'\\''s' '/run/aws-node'`,
    `mount --bind '/tmp/l' '/var/log/aws-routed-eni'`,
    `exec '/cache/bin/aws-k8s-agent'`,
  ]);
});

test("the pool is read from the agent's introspection, summed over network cards", () => {
  const json = JSON.stringify({
    '0': { TotalIPs: 58, AssignedIPs: 5, ENIs: { 'eni-a': {}, 'eni-b': {} } },
    '1': { TotalIPs: 2, AssignedIPs: 2, ENIs: { 'eni-c': {} } },
  });
  expect(poolFromIntrospection(json)).toEqual({ total: 60, assigned: 7, free: 53, enis: 3 });
  expect(() => poolFromIntrospection('not json')).toThrow();
});

test('AddNetwork is encoded with the field numbers of rpc/rpc.proto, and its reply decoded', () => {
  const bytes = encodeAddNetwork('holder3');
  // Decode with an independent schema written from rpc.proto's field numbers.
  const t = new protobuf.Type('R')
    .add(new protobuf.Field('name', 1, 'string'))
    .add(new protobuf.Field('infra', 3, 'string'))
    .add(new protobuf.Field('ifname', 5, 'string'))
    .add(new protobuf.Field('containerId', 7, 'string'));
  expect(t.toObject(t.decode(bytes))).toEqual({
    name: 'holder3',
    infra: 'holder3',
    ifname: 'eth0',
    containerId: 'holder3',
  });
  const meta = new protobuf.Type('M').add(new protobuf.Field('ip', 1, 'string'));
  const reply = new protobuf.Type('P')
    .add(new protobuf.Field('ok', 1, 'bool'))
    .add(new protobuf.Field('m', 2, 'M', 'repeated'));
  new protobuf.Root().add(meta).add(reply);
  const out = Buffer.from(reply.encode(reply.fromObject({ ok: true, m: [{ ip: '10.42.3.4' }] })).finish());
  expect(decodeAddReply(out)).toEqual({ success: true, addresses: ['10.42.3.4'] });
  expect(decodeAddReply(Buffer.alloc(0))).toEqual({ success: false, addresses: [] });
});

describe('burst figures', () => {
  const t0 = 1000;
  const starts = [
    { readyAt: 1500, attempts: 1, failures: 0 },
    { readyAt: 13000, attempts: 2, failures: 1 },
    { readyAt: 26000, attempts: 3, failures: 2 },
    { attempts: 5, failures: 5 },
  ];
  const before = {
    AssignPrivateIpAddresses: { calls: 3, throttled: 0 },
    CreateTags: { calls: 1, throttled: 0 },
  };
  const after = {
    AssignPrivateIpAddresses: { calls: 5, throttled: 1 },
    CreateTags: { calls: 1, throttled: 0 },
    AttachNetworkInterface: { calls: 1, throttled: 0 },
  };
  test('count failed ADDs, pods never addressed, quantiles and the calls made during the burst only', () => {
    const f = summarise(starts, t0, before, after);
    expect(f).toMatchObject({
      failedAdds: 8,
      podsWithFailedAdd: 3,
      neverAddressed: 1,
      p50Ms: 12000,
      p99Ms: 25000,
    });
    expect(f.allAddressedMs).toBeNaN(); // one pod never got an address: there is no "all addressed" time
    expect(f.ec2Calls).toBe(3);
    expect(f.throttled).toBe(1);
    expect(f.byAction).toEqual({ AssignPrivateIpAddresses: 2, AttachNetworkInterface: 1 });
  });
  test('all addressed is the last pod when every pod got one; BENCH lines name CNI and pod count', () => {
    const f = summarise(starts.slice(0, 3), t0, {}, {});
    expect(f.allAddressedMs).toBe(25000);
    const lines = benchLines('awsvpccni', 30, f);
    expect(lines).toContain('BENCH burst_real_all_addressed_awsvpccni_30pods 25000 ms');
    expect(lines).toContain('BENCH burst_real_failed_adds_awsvpccni_30pods 3 count');
    for (const l of lines)
      expect(l).toMatch(/^BENCH burst_real_[a-z0-9_]+_awsvpccni_30pods (-?[0-9.]+|NaN) (ms|count)$/);
  });
});

describe('fidelity layer, pure parts', () => {
  test('buckets of cloud-api-figures.md 1.2/1.3, with the unfiltered Describe bucket', () => {
    const q = (s: string) => new URLSearchParams(s);
    expect(bucketFor('AttachNetworkInterface', q('')).spec).toEqual({ capacity: 50, refillPerSec: 5 });
    expect(bucketFor('AssignPrivateIpAddresses', q('')).spec).toEqual({ capacity: 100, refillPerSec: 5 });
    expect(bucketFor('CreateTags', q('')).spec).toEqual({ capacity: 100, refillPerSec: 10 });
    expect(bucketFor('ModifyNetworkInterfaceAttribute', q('')).spec).toEqual({
      capacity: 100,
      refillPerSec: 5,
    });
    expect(bucketFor('DescribeNetworkInterfaces', q('Action=DescribeNetworkInterfaces'))).toEqual({
      key: 'DescribeNetworkInterfaces:unfiltered',
      spec: { capacity: 50, refillPerSec: 10 },
    });
    expect(bucketFor('DescribeNetworkInterfaces', q('Filter.1.Name=subnet-id')).spec).toEqual({
      capacity: 100,
      refillPerSec: 20,
    });
    expect(bucketFor('DescribeVpcs', q('')).spec).toEqual({ capacity: 100, refillPerSec: 20 });
    expect(bucketFor('RebootInstances', q('')).spec).toEqual({ capacity: 50, refillPerSec: 5 });
  });
  test('latency samples stay within the documented range of their action', () => {
    const r = new SeededRandom(3);
    const spec = latencyFor('AssignPrivateIpAddresses')!;
    const xs = Array.from({ length: 500 }, () => sampleMs(spec, r));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(250);
    expect(Math.max(...xs)).toBeLessThanOrEqual(2000);
    expect(latencyFor('ModifyNetworkInterfaceAttribute')?.medianMs).toBe(340);
    expect(latencyFor('SomethingElse')).toBeUndefined();
  });
  test('usable addresses leave out the four first and the last of the subnet', () => {
    const u = usableAddresses('10.0.0.0/28');
    expect(u).toHaveLength(11);
    expect(u[0]).toBe('10.0.0.4');
    expect(u[u.length - 1]).toBe('10.0.0.14');
  });
  test('an Assign answer keeps only the assigned addresses', () => {
    const xml =
      '<AssignPrivateIpAddressesResponse><networkInterfaceId>eni-1</networkInterfaceId><assignedPrivateIpAddressesSet>' +
      '<item><privateIpAddress>10.0.0.4</privateIpAddress></item><item><privateIpAddress>10.0.0.9</privateIpAddress></item>' +
      '</assignedPrivateIpAddressesSet><return>true</return></AssignPrivateIpAddressesResponse>';
    const out = rewriteAssignAnswer(xml, ['10.0.0.9']);
    expect(addressesIn(out)).toEqual(['10.0.0.9']);
    expect(out).toContain('<networkInterfaceId>eni-1</networkInterfaceId>');
    expect(rewriteAssignAnswer('<Other/>', ['1.2.3.4'])).toBe('<Other/>');
  });
});
