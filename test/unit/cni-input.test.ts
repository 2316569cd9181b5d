// What the plugin takes from outside, checked when parsed (issue 11, defects 4 and 5): addresses as Go's
// net.ParseIP/ParseCIDR take them (libcni parses prevResult with those), interface names in bytes as the
// kernel counts them (IFNAMSIZ 16 with the NUL), strings as UTF-8 text.
import { checkIfname, parseEnv } from '../../cni/env.js';
import { CniError } from '../../cni/errors.js';
import { isIPv4, isIPv6, parseCidr } from '../../cni/ipaddr.js';
import { parseNetConf } from '../../cni/netconf.js';

const codeOf = (fn: () => unknown): number => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return err.code;
    throw err;
  }
  return 0;
};

describe('addresses', () => {
  it.each(['0.0.0.0', '10.0.1.10', '255.255.255.255', '192.168.0.1'])('takes IPv4 %s', (a) =>
    expect(isIPv4(a)).toBe(true),
  );
  it.each([
    '999.1.1.1',
    '256.0.0.1',
    '10.0.1',
    '10.0.1.10.1',
    '010.0.0.1',
    '10.0.0.-1',
    '1e1.0.0.1',
    ' 10.0.0.1',
    '',
  ])('refuses IPv4 %p', (a) => expect(isIPv4(a)).toBe(false));
  it.each([
    '::',
    '::1',
    '2001:db8::1',
    'fe80::1:2:3:4',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7::',
    '::ffff:10.0.0.1',
    '1:2:3:4:5:6:10.0.0.1',
  ])('takes IPv6 %s', (a) => expect(isIPv6(a)).toBe(true));
  it.each([
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '::1:2:3:4:5:6:7:8',
    '2001:db8::g',
    'fe80::1%eth0',
    '12345::',
    ':1::',
    '1.2.3.4',
    '::ffff:999.0.0.1',
    '1:2:3:4:5:6:7:10.0.0.1',
  ])('refuses IPv6 %p', (a) => expect(isIPv6(a)).toBe(false));
  it('reads CIDRs of both families with their prefix bounds', () => {
    expect(parseCidr('10.0.1.10/32')).toEqual({ address: '10.0.1.10', prefix: 32, v6: false });
    expect(parseCidr('2001:db8::/128')).toEqual({ address: '2001:db8::', prefix: 128, v6: true });
    for (const bad of [
      '10.0.1.10/33',
      '999.1.1.1/32',
      '10.0.1.10',
      '10.0.1.10/',
      '10.0.1.10/08',
      '::/129',
      '10.0.0.0/x',
    ])
      expect(parseCidr(bad)).toBeNull();
  });
});

describe('names in bytes', () => {
  it('takes 15 bytes and refuses 16, however many characters they are', () => {
    expect(codeOf(() => checkIfname('a'.repeat(15)))).toBe(0);
    expect(codeOf(() => checkIfname('é'.repeat(7) + 'a'))).toBe(0); // 8 characters, 15 bytes
    expect(codeOf(() => checkIfname('é'.repeat(8)))).toBe(4); // 8 characters, 16 bytes
    expect(() => checkIfname('é'.repeat(8))).toThrow(
      /16 bytes; an interface name is at most 15 \(IFNAMSIZ\)/,
    );
    expect(codeOf(() => checkIfname('a'.repeat(16)))).toBe(4);
  });
  it.each(['eth0#1', 'eth"0', "eth'0", 'eth\\0', 'eth\u00000', 'eth\uFFFD', 'eth\n0'])(
    'refuses CNI_IFNAME %p',
    (n) => expect(codeOf(() => checkIfname(n))).toBe(4),
  );
  it('checks the environment of every command that names an attachment', () => {
    const env = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'é'.repeat(8) };
    for (const c of ['ADD', 'DEL', 'CHECK'] as const)
      expect(codeOf(() => parseEnv(c, { ...env, CNI_COMMAND: c }))).toBe(4);
    expect(codeOf(() => parseEnv('GC', { CNI_COMMAND: 'GC', CNI_NETNS: 'relative' }))).toBe(4);
  });
});

describe('prevResult', () => {
  const conf = (prevResult: unknown) =>
    Buffer.from(JSON.stringify({ cniVersion: '1.0.0', name: 'tidepool', type: 'tidepool', prevResult }));
  it('is refused with the field and value named when an address is not one', () => {
    const c = parseNetConf(conf({ ips: [{ address: '999.1.1.1/32' }] }));
    expect(c.prevResult).toBeNull();
    expect(c.prevResultError).toMatchObject({
      code: 6,
      message: expect.stringMatching(/ips\[0\]\.address "999\.1\.1\.1\/32"/),
    });
  });
  it('keeps a valid one', () => {
    const c = parseNetConf(
      conf({
        ips: [{ address: '10.0.1.10/32', gateway: '169.254.1.1' }],
        dns: { nameservers: ['10.0.0.2'] },
      }),
    );
    expect(c.prevResultError).toBeNull();
    expect(c.prevResult?.ips[0].address).toBe('10.0.1.10/32');
  });
  it('a config that is not UTF-8 is undecodable (code 6)', () => {
    const bytes = Buffer.concat([
      Buffer.from('{"cniVersion":"1.0.0","name":"tidepool","type":"tidepool","x":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    expect(codeOf(() => parseNetConf(bytes))).toBe(6);
  });
});
