// Pure checks on addresses EC2 says it assigned. Two emulator gaps (reference cni-spec-and-test-tools.md
// 5.2) make these necessary against moto/LocalStack, and they cost nothing against AWS:
// - AssignPrivateIpAddresses answers with every address of the ENI instead of the new ones, so the new
//   ones are computed as (after − before) from two describes, never taken from the response;
// - a secondary address is unique only within its ENI and may be the subnet's network, gateway, DNS,
//   reserved or broadcast address, so each new address is checked against every other ENI in the subnet
//   and the subnet's reserved addresses;
// - one AssignPrivateIpAddresses (or CreateNetworkInterface) may list the same new address twice on the
//   ENI, or list the ENI's own primary address again as a secondary: each copy takes a slot.
// A bad one is quarantined (released back, never handed out).
import { cidrContains, intToIp, ipToInt, parseCidr } from '../../config/net.js';

/** Addresses in `after` that were not in `before`. */
export function newAddresses(before: Iterable<string>, after: Iterable<string>): string[] {
  const had = new Set(before);
  return [...new Set(after)].filter((a) => !had.has(a));
}

/** AWS reserves the first four addresses and the last one of every subnet. */
export function reservedAddresses(subnetCidr: string): Set<string> {
  const { base, size } = parseCidr(subnetCidr);
  const out = new Set<string>();
  for (const i of [0, 1, 2, 3, size - 1]) if (i >= 0 && i < size) out.add(intToIp(base + i));
  return out;
}

export interface AddressVerdict {
  good: string[];
  /** Address → why it must not be handed out. */
  quarantined: Map<string, string>;
}

/** Entries of `listing` that occur more than once. */
export function listedTwice(listing: Iterable<string>): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const a of listing) (seen.has(a) ? twice : seen).add(a);
  return twice;
}

/**
 * Splits newly assigned addresses into good ones and ones that must be given back.
 * `othersInSubnet` maps every address held by any other ENI of the subnet (primary or secondary) to its ENI;
 * `twiceOnEni` holds the addresses the ENI itself lists more than once, `ownPrimary` its primary address.
 */
export function vetNewAddresses(
  fresh: string[],
  subnetCidr: string,
  othersInSubnet: Map<string, string>,
  twiceOnEni: Set<string> = new Set(),
  ownPrimary = '',
): AddressVerdict {
  const reserved = subnetCidr ? reservedAddresses(subnetCidr) : new Set<string>();
  const good: string[] = [];
  const quarantined = new Map<string, string>();
  for (const a of new Set(fresh)) {
    if (subnetCidr && !cidrContains(subnetCidr, a)) quarantined.set(a, `outside subnet ${subnetCidr}`);
    else if (a === ownPrimary) quarantined.set(a, `the ENI's own primary address`);
    else if (twiceOnEni.has(a)) quarantined.set(a, 'listed twice on its own ENI');
    else if (reserved.has(a)) quarantined.set(a, `reserved address of subnet ${subnetCidr}`);
    else if (othersInSubnet.has(a)) quarantined.set(a, `already held by ${othersInSubnet.get(a)}`);
    else good.push(a);
  }
  return { good, quarantined };
}

/** Same checks for /28 prefixes: inside the subnet, aligned, not overlapping another ENI's address/prefix. */
export function vetNewPrefixes(
  fresh: string[],
  subnetCidr: string,
  othersInSubnet: Map<string, string>,
  otherPrefixes: Map<string, string>,
): AddressVerdict {
  const good: string[] = [];
  const quarantined = new Map<string, string>();
  for (const p of fresh) {
    const [network, len] = p.split('/');
    if (Number(len) !== 28 || ipToInt(network) % 16 !== 0) {
      quarantined.set(p, 'not an aligned /28');
      continue;
    }
    if (subnetCidr && !cidrContains(subnetCidr, network)) {
      quarantined.set(p, `outside subnet ${subnetCidr}`);
      continue;
    }
    const clash = [...othersInSubnet.keys()].find((a) => cidrContains(p, a));
    if (clash) quarantined.set(p, `overlaps ${clash} of ${othersInSubnet.get(clash)}`);
    else if (otherPrefixes.has(p)) quarantined.set(p, `already delegated to ${otherPrefixes.get(p)}`);
    else good.push(p);
  }
  return { good, quarantined };
}
