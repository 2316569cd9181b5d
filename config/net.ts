// IPv4 arithmetic shared by config, providers and the daemon. Addresses are dotted quads; numbers are
// unsigned 32-bit.

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function intToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function isIPv4(ip: string): boolean {
  try {
    ipToInt(ip);
    return true;
  } catch {
    return false;
  }
}

export function isIPv4Cidr(cidr: string): boolean {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  return !!m && isIPv4(m[1]) && Number(m[2]) <= 32;
}

export interface Cidr {
  base: number;
  bits: number;
  size: number;
}

export function parseCidr(cidr: string): Cidr {
  if (!isIPv4Cidr(cidr)) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const [ip, len] = cidr.split('/');
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (ipToInt(ip) & mask) >>> 0, bits, size: 2 ** (32 - bits) };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= c.base && n < c.base + c.size;
}

/** Every address of a CIDR (for a /28 prefix: its 16 addresses). */
export function cidrAddresses(cidr: string): string[] {
  const c = parseCidr(cidr);
  const out: string[] = [];
  for (let i = 0; i < c.size; i++) out.push(intToIp(c.base + i));
  return out;
}

/** The VPC subnet gateway: the subnet's base address + 1 (AWS reserves .0–.3 and the last address). */
// Every allocation answer carries its subnet's gateway: a node has a handful of subnets, so each CIDR is
// parsed once (bounded, in case a caller feeds many).
const gateways = new Map<string, string>();

export function subnetGateway(cidr: string): string {
  let gw = gateways.get(cidr);
  if (gw === undefined) {
    gw = intToIp(parseCidr(cidr).base + 1);
    if (gateways.size >= 256) gateways.clear();
    gateways.set(cidr, gw);
  }
  return gw;
}
