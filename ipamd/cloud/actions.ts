// Executes one pool-engine action through the provider, under the budget, and records its effect in
// the pool (memory + store). Addresses leave use before a release call and return if it fails; an
// interface leaves use before its detach call.

import type { Settings } from '../../config/settings.js';
import type { Clock } from '../../providers/clock.js';
import { NotFoundError, SubnetFullError } from '../../providers/errors.js';
import type { AttachRequest, CloudInterface, NodeInfo, Provider } from '../../providers/types.js';
import type { CloudBudget } from './budget.js';
import type { CoreLogger } from '../core/logger.js';
import type { NodePool } from '../state/node-pool.js';
import type { PoolAction } from '../engine/model.js';
import { DETACH_INTENT, RELEASE_INTENT } from '../state/interrupted.js';
import type { StateStore } from '../state/store.js';

export interface ActionContext {
  node: NodeInfo;
  settings: Settings;
  provider: Provider;
  pool: NodePool;
  /** The store's intent journal: a release or detach cut short by a crash is undone on restart. */
  journal: StateStore;
  budget: CloudBudget;
  clock: Clock;
  log: CoreLogger;
  onChange: () => void;
  onRoundTrip: (ms: number) => void;
  prepareInterface?: (iface: CloudInterface) => Promise<void>;
  clientToken: () => string;
  /** Until when prefixes are not even tried (the subnet had no free /28 block recently). */
  prefixFallback: { until: number };
  /** Addresses handed back to the cloud (resync ignores them while the cloud's view lags). */
  released: (ips: string[]) => void;
}

export async function executeAction(ctx: ActionContext, action: PoolAction): Promise<void> {
  switch (action.kind) {
    case 'assign':
      return assign(ctx, action.interfaceId, action.count, action.unit);
    case 'attach':
      return attach(ctx, action.deviceNumber, action.count, action.unit);
    case 'release':
      return release(ctx, action.interfaceId, action.addresses, action.prefixes);
    case 'detach':
      return detach(ctx, action.interfaceId);
  }
}

/** After InsufficientCidrBlocks, /32s are used instead of prefixes for this long (then /28s are retried). */
export const PREFIX_FALLBACK_MS = 120_000;

/**
 * InsufficientCidrBlocks: the subnet still has free addresses but no aligned /28 (fragmentation, the
 * incumbent's open issue #3264). Tidepool then takes one /32 per slot instead of failing.
 */
function noFreeBlock(err: unknown): boolean {
  return err instanceof SubnetFullError && err.code === 'InsufficientCidrBlocks';
}

/** /32s standing in for `prefixes` /28s: as many addresses as asked, within the interface's free slots. */
function slotsForAddresses(ctx: ActionContext, interfaceId: string, prefixes: number): number {
  const iface = ctx.pool.interfaces.get(interfaceId);
  const used = iface
    ? iface.prefixes.size + [...iface.addresses.values()].filter((a) => !a.prefix).length
    : 0;
  const room = ctx.node.limits.ipv4PerInterface - 1 - used;
  return Math.max(1, Math.min(prefixes * 16, room));
}

/**
 * The budget runs calls on one target one after another (EC2: one call per ENI at a time). A provider whose
 * writes cost one round trip whatever they carry (Azure) serialises its own writes per NIC and merges every
 * add and release asked for meanwhile into its next write: chaining them here would leave it one at a time,
 * each deficit paying its own 10-20 s PUT.
 */
function writeTarget(ctx: ActionContext, interfaceId: string): string | undefined {
  return ctx.provider.flatWriteCost ? undefined : interfaceId;
}

async function assign(ctx: ActionContext, interfaceId: string, count: number, unit: 'address' | 'prefix') {
  const { provider, budget, pool, clock } = ctx;
  const t0 = clock.now();
  const addresses = async (n: number) => {
    const ips = await budget.run(
      'AssignPrivateIpAddresses',
      'addresses',
      () => provider.assignAddresses(interfaceId, n),
      { target: writeTarget(ctx, interfaceId) },
    );
    pool.addAddresses(interfaceId, ips);
  };
  if (unit === 'prefix' && clock.now() >= ctx.prefixFallback.until) {
    try {
      const prefixes = await budget.run(
        'AssignPrivateIpAddresses',
        'addresses',
        () => provider.assignPrefixes(interfaceId, count),
        { target: writeTarget(ctx, interfaceId) },
      );
      for (const p of prefixes) pool.addPrefix(interfaceId, p);
    } catch (err) {
      if (!noFreeBlock(err)) throw err;
      ctx.prefixFallback.until = clock.now() + PREFIX_FALLBACK_MS;
      ctx.log.warn(
        { interfaceId, count },
        'no free /28 block in the subnet: assigning /32 addresses instead',
      );
      await addresses(slotsForAddresses(ctx, interfaceId, count));
    }
  } else {
    await addresses(unit === 'prefix' ? slotsForAddresses(ctx, interfaceId, count) : count);
  }
  ctx.onRoundTrip(clock.now() - t0);
  ctx.onChange();
}

async function attach(ctx: ActionContext, deviceIndex: number, count: number, unit: 'address' | 'prefix') {
  const { provider, budget, pool, clock, node, settings } = ctx;
  const t0 = clock.now();
  // One token for every retry of this call: the provider makes the attach idempotent with it.
  const req: AttachRequest = {
    subnetId: await chooseSubnet(ctx, unit === 'prefix' ? count * 16 : count),
    securityGroups: node.securityGroups,
    deviceIndex,
    addresses: unit === 'address' ? count : undefined,
    prefixes: unit === 'prefix' ? count : undefined,
    clientToken: ctx.clientToken(),
    tags: { ...settings.cloud.additionalEniTags },
  };
  const slots = node.limits.ipv4PerInterface - 1;
  if (req.prefixes && clock.now() < ctx.prefixFallback.until) {
    req.addresses = Math.min(req.prefixes * 16, slots);
    req.prefixes = undefined;
  }
  let ci: CloudInterface;
  try {
    ci = await budget.run('AttachInterface', 'interfaces', () => provider.attachInterface(req));
  } catch (err) {
    if (!req.prefixes || !noFreeBlock(err)) throw err;
    ctx.prefixFallback.until = clock.now() + PREFIX_FALLBACK_MS;
    ctx.log.warn({ count }, 'no free /28 block in the subnet: attaching with /32 addresses instead');
    const fallback = {
      ...req,
      addresses: Math.min(req.prefixes * 16, slots),
      prefixes: undefined,
      clientToken: ctx.clientToken(),
    };
    ci = await budget.run('AttachInterface', 'interfaces', () => provider.attachInterface(fallback));
  }
  if (ctx.prepareInterface) {
    // Host networking (link up, MTU, route table) before any pod gets an address on it.
    await ctx
      .prepareInterface(ci)
      .catch((err) =>
        ctx.log.error(
          { interfaceId: ci.id, err: String(err) },
          'preparing the new interface on the host failed',
        ),
      );
  }
  pool.addInterface(ci, false, clock.now());
  ctx.log.info(
    { interfaceId: ci.id, deviceNumber: ci.deviceNumber, addresses: ci.addresses.length },
    'attached',
  );
  ctx.onRoundTrip(clock.now() - t0);
  ctx.onChange();
}

/** Subnet discovery label (the incumbent's): 1 = may hold pod interfaces, 0 = never. */
export const SUBNET_ROLE_TAG = 'kubernetes.io/role/cni';

/**
 * ENABLE_SUBNET_DISCOVERY (reference aws-vpc-cni.md 2.1): the node's subnet or a subnet of its zone tagged
 * kubernetes.io/role/cni=1, whichever has the most free addresses; the node's subnet when none fits or
 * the listing fails.
 */
async function chooseSubnet(ctx: ActionContext, addresses: number): Promise<string> {
  const { node, provider, settings, budget } = ctx;
  if (!settings.cloud.subnetDiscovery || !provider.listSubnets) return node.subnetId;
  try {
    const subnets = await budget.run('DescribeSubnets', 'describe', () => provider.listSubnets!(), {
      coalesce: true,
    });
    const best = subnets
      .filter((s) => s.zone === node.zone && s.freeAddresses >= addresses + 1)
      .filter((s) =>
        s.id === node.subnetId ? s.tags[SUBNET_ROLE_TAG] !== '0' : s.tags[SUBNET_ROLE_TAG] === '1',
      )
      .sort((a, b) => b.freeAddresses - a.freeAddresses)[0];
    return best?.id ?? node.subnetId;
  } catch (err) {
    ctx.log.warn({ err: String(err) }, 'subnet discovery failed; using the node subnet');
    return node.subnetId;
  }
}

async function release(ctx: ActionContext, interfaceId: string, addresses: string[], prefixes: string[]) {
  const { provider, budget, pool } = ctx;
  const iface = pool.interfaces.get(interfaceId);
  if (!iface) return;
  const prefixAddresses = [...iface.addresses.values()].filter(
    (a) => a.prefix && prefixes.includes(a.prefix),
  );
  const held = [...addresses, ...prefixes, ...prefixAddresses.map((a) => a.ip)];
  pool.markReleasing(interfaceId, held);
  const intent = ctx.journal.begin(RELEASE_INTENT, { interfaceId, addresses, prefixes });
  try {
    if (addresses.length)
      await budget.run(
        'UnassignPrivateIpAddresses',
        'addresses',
        () => provider.releaseAddresses(interfaceId, addresses),
        { target: writeTarget(ctx, interfaceId) },
      );
    if (prefixes.length)
      await budget.run(
        'UnassignPrivateIpAddresses',
        'addresses',
        () => provider.releasePrefixes(interfaceId, prefixes),
        { target: writeTarget(ctx, interfaceId) },
      );
  } catch (err) {
    ctx.journal.end(intent);
    pool.unmarkReleasing(interfaceId, held);
    throw err;
  }
  pool.removeAddresses(interfaceId, addresses, prefixes);
  ctx.journal.end(intent);
  ctx.released(held);
  ctx.onChange();
}

async function detach(ctx: ActionContext, interfaceId: string) {
  const { provider, budget, pool } = ctx;
  const iface = pool.interfaces.get(interfaceId);
  if (!iface || iface.assigned > 0) return;
  iface.detaching = true;
  const intent = ctx.journal.begin(DETACH_INTENT, { interfaceId });
  try {
    await budget.run('DetachInterface', 'interfaces', () => provider.detachAndDeleteInterface(interfaceId), {
      target: interfaceId,
    });
  } catch (err) {
    if (!(err instanceof NotFoundError)) {
      ctx.journal.end(intent);
      iface.detaching = false;
      throw err;
    }
  }
  const ips = [...iface.addresses.keys()];
  pool.removeInterface(interfaceId);
  ctx.journal.end(intent);
  ctx.released(ips);
  ctx.log.info({ interfaceId }, 'detached and deleted');
  ctx.onChange();
}
