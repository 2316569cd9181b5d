// The CNI result (reference 1.5) held in its 1.1.0 shape, parsed from a prevResult of any supported version
// and printed in the version the caller asked for: 1.0.0 drops the fields 1.1.0 added, 0.3.x/0.4.0 carry
// ips[].version.
import { CniError, ErrorCode } from './errors.js';
import { isIP, parseCidr } from './ipaddr.js';
import { compareVersions } from './version.js';

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}
export interface IpConfig {
  address: string;
  gateway?: string;
  interface?: number;
}
export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}
export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}
export interface Result {
  interfaces: Interface[];
  ips: IpConfig[];
  routes: Route[];
  dns?: Dns;
}

function bad(what: string): CniError {
  return new CniError(ErrorCode.DecodingFailure, `could not parse prevResult: ${what}`);
}
const strip = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as T;
const isObject = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === 'object' && !Array.isArray(v);
const optString = (o: Record<string, unknown>, k: string, where: string): string | undefined => {
  if (o[k] === undefined || o[k] === null) return undefined;
  if (typeof o[k] !== 'string') throw bad(`${where}.${k} must be a string`);
  return o[k] as string;
};
const optUint = (o: Record<string, unknown>, k: string, where: string): number | undefined => {
  if (o[k] === undefined || o[k] === null) return undefined;
  if (!Number.isInteger(o[k]) || (o[k] as number) < 0) throw bad(`${where}.${k} must be an unsigned integer`);
  return o[k] as number;
};
const list = (o: Record<string, unknown>, k: string): unknown[] => {
  if (o[k] === undefined || o[k] === null) return [];
  if (!Array.isArray(o[k])) throw bad(`${k} must be a list`);
  return o[k] as unknown[];
};

/** Parses and checks a prevResult; a wrong shape is a decoding failure (code 6) naming the field. */
export function parseResult(raw: unknown): Result {
  if (!isObject(raw)) throw bad('must be a JSON object');
  const interfaces = list(raw, 'interfaces').map((v, i): Interface => {
    const w = `interfaces[${i}]`;
    if (!isObject(v)) throw bad(`${w} must be an object`);
    const name = optString(v, 'name', w);
    if (!name) throw bad(`${w}.name is required`);
    return {
      name,
      mac: optString(v, 'mac', w),
      mtu: optUint(v, 'mtu', w),
      sandbox: optString(v, 'sandbox', w),
    };
  });
  const ips = list(raw, 'ips').map((v, i): IpConfig => {
    const w = `ips[${i}]`;
    if (!isObject(v)) throw bad(`${w} must be an object`);
    const address = optString(v, 'address', w);
    if (!address || !parseCidr(address))
      throw bad(`${w}.address ${JSON.stringify(address ?? '')} is not an IP address in CIDR notation`);
    const gateway = optString(v, 'gateway', w);
    if (gateway !== undefined && !isIP(gateway))
      throw bad(`${w}.gateway ${JSON.stringify(gateway)} is not an IP address`);
    const iface = optUint(v, 'interface', w);
    if (iface !== undefined && iface >= interfaces.length)
      throw bad(`${w}.interface ${iface} is out of range`);
    return { address, gateway, interface: iface };
  });
  const routes = list(raw, 'routes').map((v, i): Route => {
    const w = `routes[${i}]`;
    if (!isObject(v)) throw bad(`${w} must be an object`);
    const dst = optString(v, 'dst', w);
    if (!dst || !parseCidr(dst)) throw bad(`${w}.dst ${JSON.stringify(dst ?? '')} is not a CIDR`);
    const gw = optString(v, 'gw', w);
    if (gw !== undefined && !isIP(gw)) throw bad(`${w}.gw ${JSON.stringify(gw)} is not an IP address`);
    const r: Route = { dst, gw };
    for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) r[k] = optUint(v, k, w);
    return r;
  });
  return { interfaces, ips, routes, dns: parseDns(raw.dns, bad) };
}

/** A `dns` object (of the config or of a result); `fail` makes the error of the caller's kind. */
export function parseDns(raw: unknown, fail: (what: string) => CniError): Dns | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw fail('dns must be an object');
  const strings = (k: string): string[] | undefined => {
    if (raw[k] === undefined || raw[k] === null) return undefined;
    if (!Array.isArray(raw[k]) || !(raw[k] as unknown[]).every((x) => typeof x === 'string'))
      throw fail(`dns.${k} must be a list of strings`);
    return raw[k] as string[];
  };
  const nameservers = strings('nameservers');
  const wrong = nameservers?.find((n) => !isIP(n));
  if (wrong !== undefined) throw fail(`dns.nameservers: ${JSON.stringify(wrong)} is not an IP address`);
  if (raw.domain !== undefined && typeof raw.domain !== 'string') throw fail('dns.domain must be a string');
  return strip({
    nameservers,
    domain: raw.domain as string | undefined,
    search: strings('search'),
    options: strings('options'),
  });
}

/** The result as the spec of `version` shapes it. */
export function formatResult(r: Result, version: string): Record<string, unknown> {
  const v11 = compareVersions(version, '1.1.0') >= 0;
  const v10 = compareVersions(version, '1.0.0') >= 0;
  const out: Record<string, unknown> = {
    cniVersion: version,
    interfaces: r.interfaces.map((i) => strip({ ...i, mtu: v11 ? i.mtu : undefined })),
    ips: r.ips.map((ip) =>
      strip({
        ...(v10 ? {} : { version: ip.address.includes(':') ? '6' : '4' }),
        address: ip.address,
        gateway: ip.gateway,
        interface: ip.interface,
      }),
    ),
    routes: r.routes.map((rt) => strip(v11 ? rt : { dst: rt.dst, gw: rt.gw })),
  };
  if (r.dns && Object.keys(r.dns).length > 0) out.dns = r.dns;
  return out;
}
