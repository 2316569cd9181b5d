// The plugin's handling of the CNI specification, as pure functions: config, environment, CNI_ARGS,
// versions, results in every supported version, host veth names, ip -batch failure parsing.
import { parseFailures } from '../../cni/datapath/batch.js';
import { hostVethName } from '../../proto/veth-name.js';
import { parseArgs, parseCommand, parseEnv } from '../../cni/env.js';
import { CniError } from '../../cni/errors.js';
import { parseNetConf, peekVersion } from '../../cni/netconf.js';
import { formatResult, parseResult, type Result } from '../../cni/result.js';
import { requireCommandAllowed } from '../../cni/version.js';

const conf = (o: object) =>
  Buffer.from(JSON.stringify({ cniVersion: '1.0.0', name: 'tidepool', type: 'tidepool', ...o }));
const codeOf = (fn: () => unknown): number => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return err.code;
    throw err;
  }
  throw new Error('did not throw');
};

describe('network configuration', () => {
  it('applies the documented defaults', () => {
    const c = parseNetConf(conf({}));
    expect(c).toMatchObject({
      socket: '/run/tidepool/ipamd.sock',
      mtu: null,
      vethPrefix: 'eni',
      logFile: '',
      logLevel: 'info',
      prevResult: null,
      validAttachments: null,
    });
  });
  it('reads Tidepool fields', () => {
    const c = parseNetConf(
      conf({ socket: '/x/s.sock', mtu: 1500, vethPrefix: 'tp', logFile: '/l/p.log', logLevel: 'debug' }),
    );
    expect(c).toMatchObject({
      socket: '/x/s.sock',
      mtu: 1500,
      vethPrefix: 'tp',
      logFile: '/l/p.log',
      logLevel: 'debug',
    });
  });
  it.each([
    ['not JSON', Buffer.from('{"cniVersion":'), 6],
    ['an array', Buffer.from('[]'), 6],
    ['empty', Buffer.from(''), 6],
    ['unsupported version', conf({ cniVersion: '0.2.0' }), 1],
    ['version 2.0.0', conf({ cniVersion: '2.0.0' }), 1],
    ['no version (0.1.0)', Buffer.from('{"name":"n","type":"tidepool"}'), 1],
    ['malformed version', conf({ cniVersion: 'one' }), 6],
    ['bad name', conf({ name: 'no/slash' }), 7],
    ['name starting with a dot', conf({ name: '.x' }), 7],
    ['missing type', conf({ type: '' }), 7],
    ['relative socket', conf({ socket: 'run/s.sock' }), 7],
    ['mtu too small', conf({ mtu: 100 }), 7],
    ['mtu as a string', conf({ mtu: '1500' }), 7],
    ['long vethPrefix', conf({ vethPrefix: 'abcde' }), 7],
    ['reserved vethPrefix', conf({ vethPrefix: 'eth' }), 7],
    ['relative logFile', conf({ logFile: 'p.log' }), 7],
    ['unknown logLevel', conf({ logLevel: 'loud' }), 7],
    ['an ipam section', conf({ ipam: { type: 'host-local' } }), 2],
    ['attachments not a list', conf({ 'cni.dev/valid-attachments': {} }), 7],
    ['attachment without ifname', conf({ 'cni.dev/attachments': [{ containerID: 'a' }] }), 7],
  ])('refuses %s with code %d', (_what, bytes, code) => {
    expect(codeOf(() => parseNetConf(bytes))).toBe(code);
  });
  it.each([
    ['not an object', 'x'],
    ['ips not a list', { ips: {} }],
    ['an address without a prefix length', { ips: [{ address: '10.0.0.1' }] }],
    ['an interface index out of range', { interfaces: [], ips: [{ address: '10.0.0.1/32', interface: 0 }] }],
  ])('keeps the error of a prevResult with %s for the command to decide (code 6)', (_what, prevResult) => {
    const c = parseNetConf(conf({ prevResult }));
    expect(c.prevResult).toBeNull();
    expect(c.prevResultError?.code).toBe(6);
  });
  it('refuses more than 1 MiB', () => {
    expect(codeOf(() => parseNetConf(conf({ pad: 'x'.repeat(1 << 20) })))).toBe(7);
  });
  it('reads valid attachments from both GC keys, without duplicates', () => {
    const c = parseNetConf(
      conf({
        'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }],
        'cni.dev/attachments': [
          { containerID: 'a', ifname: 'eth0' },
          { containerID: 'b', ifname: 'eth0' },
        ],
      }),
    );
    expect(c.validAttachments).toEqual([
      { containerId: 'a', ifname: 'eth0' },
      { containerId: 'b', ifname: 'eth0' },
    ]);
    expect(parseNetConf(conf({ 'cni.dev/attachments': [] })).validAttachments).toEqual([]);
  });
  it('peeks the version of a config that fails later', () => {
    expect(peekVersion('{"cniVersion":"0.4.0","name":"bad/"}')).toBe('0.4.0');
    expect(peekVersion('{"cniVersion":')).toBeNull();
  });
});

describe('environment', () => {
  const base = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0' };
  it('knows the six commands', () => {
    for (const c of ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'])
      expect(parseCommand({ CNI_COMMAND: c })).toBe(c);
    expect(codeOf(() => parseCommand({}))).toBe(4);
    expect(codeOf(() => parseCommand({ CNI_COMMAND: 'add' }))).toBe(4);
  });
  it('names every missing variable', () => {
    expect(() => parseEnv('ADD', { CNI_COMMAND: 'ADD' })).toThrow('[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME]');
  });
  it('allows DEL without a netns', () => {
    expect(parseEnv('DEL', { ...base, CNI_NETNS: '' }).netns).toBe('');
    expect(codeOf(() => parseEnv('CHECK', { ...base, CNI_NETNS: '' }))).toBe(4);
  });
  it.each([
    ['CNI_IFNAME', 'a-very-long-ifname'],
    ['CNI_IFNAME', 'eth/0'],
    ['CNI_IFNAME', 'eth:0'],
    ['CNI_IFNAME', 'eth 0'],
    ['CNI_IFNAME', '..'],
    ['CNI_CONTAINERID', '-c1'],
    ['CNI_CONTAINERID', 'c1;rm'],
    ['CNI_NETNS', 'relative/path'],
  ])('refuses %s=%s with code 4', (k, v) => {
    expect(codeOf(() => parseEnv('ADD', { ...base, [k]: v }))).toBe(4);
  });
  it('parses CNI_ARGS in any order', () => {
    const a = parseArgs(
      'K8S_POD_UID=u1;IgnoreUnknown=1;K8S_POD_NAME=web-0;Foo=bar;K8S_POD_NAMESPACE=default;K8S_POD_INFRA_CONTAINER_ID=c1',
    );
    expect(a).toEqual({ namespace: 'default', name: 'web-0', infraContainerId: 'c1', uid: 'u1' });
    expect(codeOf(() => parseArgs('K8S_POD_NAME=a=b'))).toBe(4); // the value is "a=b", not a pod name
  });
  it('refuses unknown CNI_ARGS unless IgnoreUnknown, and malformed pairs', () => {
    expect(codeOf(() => parseArgs('Foo=bar'))).toBe(4);
    expect(codeOf(() => parseArgs('IgnoreUnknown=0;Foo=bar'))).toBe(4);
    expect(codeOf(() => parseArgs('K8S_POD_NAME'))).toBe(4);
    expect(parseArgs('IgnoreUnknown=true;Foo=bar').name).toBe('');
  });
});

describe('versions', () => {
  it('allows CHECK from 0.4.0, GC and STATUS from 1.1.0', () => {
    expect(codeOf(() => requireCommandAllowed('CHECK', '0.3.1'))).toBe(1);
    expect(() => requireCommandAllowed('CHECK', '0.4.0')).not.toThrow();
    expect(codeOf(() => requireCommandAllowed('GC', '1.0.0'))).toBe(1);
    expect(codeOf(() => requireCommandAllowed('STATUS', '1.0.0'))).toBe(1);
    expect(() => requireCommandAllowed('STATUS', '1.1.0')).not.toThrow();
  });
});

describe('results', () => {
  const r: Result = {
    interfaces: [
      { name: 'eni0d7763386da', mac: '02:00:00:00:00:01' },
      { name: 'eth0', mac: '02:00:00:00:00:02', mtu: 9001, sandbox: '/run/netns/p' },
    ],
    ips: [{ address: '10.0.1.10/32', gateway: '169.254.1.1', interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: '169.254.1.1', table: 254 }],
  };
  it('prints 1.1.0 with interface mtu and route table', () => {
    const out = formatResult(r, '1.1.0') as any;
    expect(out.cniVersion).toBe('1.1.0');
    expect(out.interfaces[1].mtu).toBe(9001);
    expect(out.routes[0].table).toBe(254);
    expect(out.ips[0].version).toBeUndefined();
  });
  it('prints 1.0.0 without the fields 1.1.0 added', () => {
    const out = formatResult(r, '1.0.0') as any;
    expect(out.interfaces[1].mtu).toBeUndefined();
    expect(out.routes[0]).toEqual({ dst: '0.0.0.0/0', gw: '169.254.1.1' });
    expect(out.ips[0]).toEqual({ address: '10.0.1.10/32', gateway: '169.254.1.1', interface: 1 });
  });
  it.each(['0.3.0', '0.3.1', '0.4.0'])('prints %s with ips[].version', (v) => {
    const out = formatResult(r, v) as any;
    expect(out.cniVersion).toBe(v);
    expect(out.ips[0]).toEqual({
      version: '4',
      address: '10.0.1.10/32',
      gateway: '169.254.1.1',
      interface: 1,
    });
  });
  it('parses a prevResult of 0.4.0 shape and prints it back in 1.0.0', () => {
    const prev = parseResult({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0' }],
      ips: [{ version: '4', address: '10.0.0.2/24', interface: 0 }],
    });
    expect(formatResult(prev, '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0' }],
      ips: [{ address: '10.0.0.2/24', interface: 0 }],
      routes: [],
    });
  });
});

describe('host veth names', () => {
  it('are the prefix and 11 hex of sha1("<namespace>.<pod>") (AWS VPC CNI names.go)', () => {
    // printf 'default.web-0' | sha1sum → 0d7763386da…
    expect(hostVethName('eni', 'default', 'web-0', 'cid', 'eth0')).toBe('eni0d7763386da');
    expect(hostVethName('eni', 'kube-system', 'coredns-5d78c9869d-abcde', 'cid', 'eth0')).toBe(
      'eni4d5f75c480c',
    );
  });
  it('fit in 15 characters and differ per interface and without pod names', () => {
    const n = hostVethName('abcd', 'default', 'web-0', 'cid', 'net1');
    expect(n.length).toBe(15);
    expect(n).not.toBe(hostVethName('abcd', 'default', 'web-0', 'cid', 'eth0'));
    expect(hostVethName('eni', '', '', 'c1', 'eth0')).not.toBe(hostVethName('eni', '', '', 'c2', 'eth0'));
  });
});

describe('ip -batch failures', () => {
  it('are mapped to their line numbers', () => {
    const f = parseFailures(
      'Cannot find device "x"\nCommand failed -:1\nRTNETLINK answers: File exists\nCommand failed -:3\n',
    );
    expect([...f]).toEqual([
      [1, 'Cannot find device "x"'],
      [3, 'RTNETLINK answers: File exists'],
    ]);
    expect(parseFailures('nsenter: reassociate to namespace failed\n').get(0)).toMatch(/nsenter/);
  });
});

describe('SHA-1 of host veth names', () => {
  it('matches node:crypto on names of every length around the block boundaries', async () => {
    const { createHash } = await import('node:crypto');
    const { sha1Hex } = await import('../../proto/sha1.js');
    for (let n = 0; n < 200; n++) {
      const text = `ns-${n}.` + 'pod-é'.repeat(n).slice(0, n);
      expect(sha1Hex(text)).toBe(createHash('sha1').update(text).digest('hex'));
    }
    expect(sha1Hex('abc')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d'); // FIPS 180 example
  });
});
