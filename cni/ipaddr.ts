// IP addresses and CIDRs as the plugin receives them from outside (prevResult, the daemon's answers), checked
// as Go's net.ParseIP/ParseCIDR check them (libcni parses prevResult with those): dotted-quad octets 0-255
// without leading zeros, IPv6 with at most one "::" and eight groups (an embedded dotted quad counting as
// two), prefix lengths within the family. A string that passes is safe to put into an `ip` command line.
// Not node:net's isIP: loading node:net costs every plugin start (README "Start-up").

const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => OCTET.test(p) && Number(p) <= 255);
}

export function isIPv6(s: string): boolean {
  if (s.length < 2 || s.length > 45) return false;
  let body = s;
  let groups = 0;
  // A trailing dotted quad ("::ffff:10.0.0.1") stands for the last two groups.
  const tail = s.slice(s.lastIndexOf(':') + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return false;
    groups = 2;
    body = s.slice(0, s.length - tail.length);
    if (!body.endsWith('::')) body = body.slice(0, -1);
    if (body === '') return false;
  }
  const halves = body.split('::');
  if (halves.length > 2) return false;
  for (const half of halves) {
    if (half === '') continue;
    const g = half.split(':');
    if (!g.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x))) return false;
    groups += g.length;
  }
  // "::" stands for at least one group of zeros.
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

export const isIP = (s: string): boolean => isIPv4(s) || isIPv6(s);

/** The address and prefix length of "addr/len", or null when it is not a CIDR of either family. */
export function parseCidr(s: string): { address: string; prefix: number; v6: boolean } | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const address = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(len)) return null;
  const prefix = Number(len);
  if (isIPv4(address)) return prefix <= 32 ? { address, prefix, v6: false } : null;
  if (isIPv6(address)) return prefix <= 128 ? { address, prefix, v6: true } : null;
  return null;
}
