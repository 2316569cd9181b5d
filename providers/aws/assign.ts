// Growing and shrinking an ENI's addresses and /28 prefixes (reference aws-vpc-cni.md 3.4 step 1, 3.5).
// New addresses are (after − before) from two DescribeNetworkInterfaces, never the response (moto returns
// all of the ENI's addresses); each new one is vetted against every other ENI of the subnet, and a bad one
// is quarantined — given back at once and never returned to the pool (see addresses.ts).
import {
  AssignPrivateIpAddressesCommand,
  UnassignPrivateIpAddressesCommand,
  type NetworkInterface,
} from '@aws-sdk/client-ec2';
import { CloudError, LimitExceededError, NotFoundError, SubnetFullError, TransientError } from '../errors.js';
import { listedTwice, newAddresses, vetNewAddresses, vetNewPrefixes } from './addresses.js';
import { beginIntent, INTENT, type AwsContext } from './context.js';
import { describeEni, describeEnis, othersInSubnet, prefixesOf, secondaryAddresses } from './describe.js';
import { retryStep, STEP_RETRY, THROTTLE_RETRY } from './retry.js';

type Kind = 'addresses' | 'prefixes';

/** Free slots on an ENI: each secondary address and each /28 takes one (reference 3.3). */
function roomOn(ctx: AwsContext, ni: NetworkInterface): number {
  return ctx.node.limits.ipv4PerInterface - 1 - secondaryAddresses(ni).length - prefixesOf(ni).length;
}

export async function assign(ctx: AwsContext, eniId: string, count: number, kind: Kind): Promise<string[]> {
  if (kind === 'addresses') return assignOnce(ctx, eniId, count, kind);
  try {
    return await assignOnce(ctx, eniId, count, kind);
  } catch (err) {
    // Prefix delegation with no free /28 left in the subnet (InsufficientCidrBlocks): the incumbent stops
    // growing for 2 minutes; Tidepool takes single addresses instead, one slot each, as /32 "prefixes".
    if (!(err instanceof SubnetFullError && err.code === 'InsufficientCidrBlocks')) throw err;
    ctx.log.warn(
      { interfaceId: eniId, count },
      'no free /28 in the subnet; assigning single addresses instead',
    );
    return (await assignOnce(ctx, eniId, count, 'addresses')).map((a) => `${a}/32`);
  }
}

async function assignOnce(ctx: AwsContext, eniId: string, count: number, kind: Kind): Promise<string[]> {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`assign ${kind}: count must be a positive integer, got ${count}`);
  const before = await describeEni(ctx.ec2, eniId);
  const room = roomOn(ctx, before);
  // Enforced here because the emulator never refuses (reference cni-spec-and-test-tools.md 5.2).
  if (room <= 0)
    throw new LimitExceededError(
      `${eniId} holds ${ctx.node.limits.ipv4PerInterface - 1} secondary addresses/prefixes, the most a ` +
        `${ctx.node.limits.instanceType} interface can`,
      'PrivateIpAddressLimitExceeded',
      'AssignPrivateIpAddresses',
    );
  const n = Math.min(count, room);
  const had = kind === 'addresses' ? secondaryAddresses(before) : prefixesOf(before);
  const intent = beginIntent(ctx, kind === 'addresses' ? INTENT.assignAddresses : INTENT.assignPrefixes, {
    interfaceId: eniId,
    count: n,
  });
  let unsure: CloudError | null = null;
  try {
    await retryStep(ctx.clock, THROTTLE_RETRY, () =>
      ctx.ec2.send(
        'AssignPrivateIpAddresses',
        new AssignPrivateIpAddressesCommand(
          kind === 'addresses'
            ? { NetworkInterfaceId: eniId, SecondaryPrivateIpAddressCount: n }
            : { NetworkInterfaceId: eniId, Ipv4PrefixCount: n },
        ),
      ),
    );
  } catch (err) {
    // A timeout or 5xx may still have assigned: look before giving up, so no address is lost.
    if (!(err instanceof TransientError)) {
      intent.end();
      throw err;
    }
    unsure = err;
  }
  const subnetId = before.SubnetId ?? '';
  let fresh: string[] = [];
  let subnetEnis: NetworkInterface[] = [];
  // EC2 is eventually consistent: an assign may take ~1 s to show in a describe (cloud-api-figures.md 2).
  for (let look = 0; look < (unsure ? 1 : 4); look++) {
    if (look > 0) await ctx.clock.sleep(150 * 2 ** (look - 1));
    subnetEnis = await retryStep(ctx.clock, STEP_RETRY, () =>
      describeEnis(ctx.ec2, [{ Name: 'subnet-id', Values: [subnetId] }]),
    );
    const after = subnetEnis.find((x) => x.NetworkInterfaceId === eniId);
    if (!after) break;
    fresh = newAddresses(had, kind === 'addresses' ? secondaryAddresses(after) : prefixesOf(after));
    if (fresh.length >= n) break;
  }
  const cidr = (await ctx.subnets.cidrOf([subnetId])).get(subnetId) ?? '';
  const good = await quarantineFresh(ctx, eniId, cidr, subnetId, fresh, subnetEnis, kind);
  intent.end();
  ctx.log.debug?.({ interfaceId: eniId, asked: n, [kind]: good, unsure: !!unsure }, `assigned ${kind}`);
  if (unsure && fresh.length === 0) throw unsure;
  if (kind === 'prefixes' && !unsure && fresh.length === 0)
    ctx.log.warn(
      { interfaceId: eniId },
      'AssignPrivateIpAddresses(Ipv4PrefixCount) succeeded but no prefix appeared',
    );
  return good;
}

/**
 * Vets addresses/prefixes just assigned to `eniId`; gives the bad ones back (UnassignPrivateIpAddresses) and
 * returns the good ones. `subnetEnis` (every ENI of the subnet, after the assign) is fetched when not given.
 */
export async function quarantineFresh(
  ctx: AwsContext,
  eniId: string,
  subnetCidr: string,
  subnetId: string,
  fresh: string[],
  subnetEnis?: NetworkInterface[],
  kind: Kind = 'addresses',
): Promise<string[]> {
  if (fresh.length === 0) return [];
  const enis =
    subnetEnis ??
    (await retryStep(ctx.clock, STEP_RETRY, () =>
      describeEnis(ctx.ec2, [{ Name: 'subnet-id', Values: [subnetId] }]),
    ));
  const others = othersInSubnet(enis, eniId);
  const own = enis.find((ni) => ni.NetworkInterfaceId === eniId);
  const primary = own?.PrivateIpAddress ?? '';
  const verdict =
    kind === 'addresses'
      ? vetNewAddresses(
          fresh,
          subnetCidr,
          others.addresses,
          listedTwice(own ? secondaryAddresses(own) : []),
          primary,
        )
      : vetNewPrefixes(fresh, subnetCidr, others.addresses, others.prefixes);
  if (verdict.quarantined.size) {
    ctx.log.warn(
      { interfaceId: eniId, quarantined: Object.fromEntries(verdict.quarantined) },
      'EC2 assigned addresses that must not be used (emulator gap); giving them back',
    );
    // Not the ENI's own primary listed again: the emulator would take the primary away with it. That slot
    // stays taken; the daemon counts it as such (see ipamd/cloud/resync.ts).
    const bad = [...verdict.quarantined.keys()].filter((a) => a !== primary);
    if (bad.length) await retryStep(ctx.clock, STEP_RETRY, () => release(ctx, eniId, bad, kind));
  }
  return verdict.good;
}

export async function release(ctx: AwsContext, eniId: string, items: string[], kind: Kind): Promise<void> {
  if (items.length === 0) return;
  const intent = beginIntent(ctx, kind === 'addresses' ? INTENT.releaseAddresses : INTENT.releasePrefixes, {
    interfaceId: eniId,
    items,
  });
  const send = (list: string[]) =>
    ctx.ec2.send(
      'UnassignPrivateIpAddresses',
      new UnassignPrivateIpAddressesCommand(
        kind === 'addresses'
          ? { NetworkInterfaceId: eniId, PrivateIpAddresses: list }
          : { NetworkInterfaceId: eniId, Ipv4Prefixes: list },
      ),
    );
  try {
    await send(items);
  } catch (err) {
    if (err instanceof NotFoundError) {
      // The ENI is gone, and its addresses with it: released.
    } else if (err instanceof CloudError && err.code === 'InvalidParameterValue') {
      // AWS refuses the whole call when one address is no longer assigned (a repeated release): send the rest.
      const ni = await describeEni(ctx.ec2, eniId);
      const held = new Set(kind === 'addresses' ? secondaryAddresses(ni) : prefixesOf(ni));
      const still = items.filter((a) => held.has(a));
      if (still.length) await send(still);
    } else {
      intent.end();
      throw err;
    }
  }
  intent.end();
}
