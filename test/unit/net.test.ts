import {
  cidrAddresses,
  cidrContains,
  intToIp,
  ipToInt,
  isIPv4Cidr,
  parseCidr,
  subnetGateway,
} from '../../config/net.js';

describe('IPv4 arithmetic', () => {
  test.each([
    ['0.0.0.0', 0],
    ['10.0.1.23', 167772439],
    ['255.255.255.255', 4294967295],
  ])('%s is %d and back', (ip, n) => {
    expect(ipToInt(ip)).toBe(n);
    expect(intToIp(n)).toBe(ip);
  });

  test.each(['10.0.0', '10.0.0.256', '10.0.0.1.2', 'a.b.c.d', '10.0.0.-1', ''])('%p is refused', (bad) => {
    expect(() => ipToInt(bad)).toThrow(/not an IPv4 address/);
  });

  test('a /28 prefix holds 16 addresses from its aligned base', () => {
    const all = cidrAddresses('10.0.16.37/28');
    expect(all).toHaveLength(16);
    expect(all[0]).toBe('10.0.16.32');
    expect(all[15]).toBe('10.0.16.47');
  });

  test('containment and gateway', () => {
    expect(cidrContains('10.0.0.0/16', '10.0.255.255')).toBe(true);
    expect(cidrContains('10.0.0.0/16', '10.1.0.0')).toBe(false);
    expect(subnetGateway('10.0.32.0/19')).toBe('10.0.32.1');
    expect(parseCidr('0.0.0.0/0').size).toBe(2 ** 32);
  });

  test.each(['10.0.0.0/33', '10.0.0.0', '10.0.0.0/', 'x/24'])('%p is not a CIDR', (c) => {
    expect(isIPv4Cidr(c)).toBe(false);
  });
});
