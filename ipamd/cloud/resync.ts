// Bringing the pool in line with the cloud's list of the node's interfaces (the incumbent's
// nodeIPPoolReconcile, reference aws-vpc-cni.md 3.6): the cloud is the truth, except within a grace
// period in which its view may lag ours (a just-assigned address not yet listed, a just-released one
// still listed).

import type { CloudInterface, NodeInfo } from '../../providers/types.js';
import type { CoreLogger } from '../core/logger.js';
import type { LiveInterface, NodePool } from '../state/node-pool.js';

export interface ResyncInput {
  cloud: CloudInterface[];
  pool: NodePool;
  node: NodeInfo;
  now: number;
  graceMs: number;
  recentlyReleased: Map<string, number>;
  log: CoreLogger;
  prepareInterface?: (iface: CloudInterface) => Promise<void>;
}

export interface ResyncResult {
  adoptedInterfaces: string[];
  droppedInterfaces: string[];
  adoptedAddresses: number;
  droppedAddresses: number;
}

export async function resyncPool(r: ResyncInput): Promise<ResyncResult> {
  const { pool, now, graceMs, log } = r;
  const out: ResyncResult = {
    adoptedInterfaces: [],
    droppedInterfaces: [],
    adoptedAddresses: 0,
    droppedAddresses: 0,
  };
  const attached = r.cloud.filter((c) => c.status === 'attached');
  const seen = new Set(attached.map((c) => c.id));
  if (!seen.has(r.node.primaryInterfaceId)) {
    // A listing without the node's own primary interface is wrong (stale or partial): act on none of it.
    log.warn({ listed: [...seen] }, 'interface listing lacks the primary interface; ignored');
    return out;
  }
  for (const ci of attached) {
    const iface = pool.interfaces.get(ci.id);
    if (!iface) {
      const primary = ci.id === r.node.primaryInterfaceId;
      if (!primary && r.prepareInterface)
        await r
          .prepareInterface(ci)
          .catch((err) =>
            log.error(
              { interfaceId: ci.id, err: String(err) },
              'preparing an adopted interface on the host failed',
            ),
          );
      pool.addInterface(
        {
          ...ci,
          addresses: ci.addresses.filter((ip) => !r.recentlyReleased.has(ip)),
          prefixes: ci.prefixes.filter((p) => !r.recentlyReleased.has(p)),
        },
        primary,
        now,
      );
      noteBlockedSlots(ci, pool.interfaces.get(ci.id), r);
      out.adoptedInterfaces.push(ci.id);
      log.info(
        { interfaceId: ci.id, addresses: ci.addresses.length, prefixes: ci.prefixes.length },
        'adopted interface',
      );
      continue;
    }
    if (iface.detaching) continue;
    const listed = new Set(ci.addresses);
    const missing = ci.addresses.filter((ip) => !pool.byAddress.has(ip) && !r.recentlyReleased.has(ip));
    out.adoptedAddresses += pool.addAddresses(ci.id, missing).length;
    for (const p of ci.prefixes)
      if (!iface.prefixes.has(p) && !r.recentlyReleased.has(p))
        out.adoptedAddresses += pool.addPrefix(ci.id, p).length;
    const goneAddresses = [...iface.addresses.values()]
      .filter(
        (a) => !a.prefix && !listed.has(a.ip) && !iface.releasing.has(a.ip) && now - a.addedAt > graceMs,
      )
      .map((a) => a.ip);
    const listedPrefixes = new Set(ci.prefixes);
    const gonePrefixes = [...iface.prefixes]
      .filter(([p, addedAt]) => !listedPrefixes.has(p) && !iface.releasing.has(p) && now - addedAt > graceMs)
      .map(([p]) => p);
    if (goneAddresses.length || gonePrefixes.length) {
      const inUse = goneAddresses.filter((ip) => pool.byAddress.get(ip)?.state === 'assigned');
      log.warn(
        { interfaceId: ci.id, goneAddresses, gonePrefixes, inUse },
        'the cloud no longer has these; dropped',
      );
      pool.removeAddresses(ci.id, goneAddresses, gonePrefixes);
      out.droppedAddresses += goneAddresses.length;
    }
    noteBlockedSlots(ci, iface, r);
  }
  for (const iface of [...pool.interfaces.values()]) {
    if (seen.has(iface.id) || iface.detaching || now - iface.attachedAt <= graceMs) continue;
    log.warn(
      { interfaceId: iface.id, assigned: iface.assigned },
      'interface no longer attached in the cloud; dropped',
    );
    pool.removeInterface(iface.id);
    out.droppedInterfaces.push(iface.id);
  }
  return out;
}

/**
 * Entries the cloud lists on an interface beyond what the pool holds there take slots nothing of ours can
 * use: the planner must not count on them (else it asks again and again for a slot the cloud says is
 * taken). AWS never lists an address twice; the emulator does (see providers/aws/addresses.ts). What we
 * released and the cloud still lists (its view lags) is not counted.
 */
function noteBlockedSlots(ci: CloudInterface, iface: LiveInterface | undefined, r: ResyncInput): void {
  if (!iface) return;
  const held = [...iface.addresses.values()].filter((a) => !a.prefix).length + iface.prefixes.size;
  const listed = [...ci.addresses, ...ci.prefixes].filter((x) => !r.recentlyReleased.has(x)).length;
  const blocked = Math.max(0, listed - held);
  if (blocked > 0 && blocked !== iface.blockedSlots)
    r.log.warn(
      { interfaceId: ci.id, blocked, listed: [...ci.addresses, ...ci.prefixes] },
      'the cloud lists entries on this interface that hold no address of the pool; their slots are left alone',
    );
  iface.blockedSlots = blocked;
}
