// When is a node truly full, and the sentence that says so. Full means: no free address, the pool cannot
// grow (every allowed interface attached and holding all it can, or max pods reached) and no cooling
// address frees up before the request's wait would end.

import type { Settings } from '../../config/settings.js';
import { addressCapacity } from './capacity.js';
import type { NodePool } from '../state/node-pool.js';
import type { Reconciler } from '../cloud/reconciler.js';

export function nodeFullMessage(
  pool: NodePool,
  reconciler: Reconciler,
  settings: Settings['pool'],
  now: number,
  deadline: number,
): string | null {
  const cap = reconciler.capacity;
  if (!cap || !reconciler.ready) return null;
  const pd = settings.prefixDelegation;
  const c = pool.counts(now);
  const capacity = addressCapacity(cap, pd);
  const slots = cap.ipv4PerInterface - 1;
  const roomForInterface = pool.interfaces.size < cap.maxInterfaces && !reconciler.attachUnsupported;
  const roomOnInterface = [...pool.interfaces.values()].some((i) => {
    const secondary = [...i.addresses.values()].filter((a) => !a.prefix).length;
    return (pd ? i.prefixes.size + secondary : secondary) + i.blockedSlots < slots;
  });
  const canGrow = c.total < cap.maxPods && c.total < capacity && (roomForInterface || roomOnInterface);
  if (canGrow) return null;
  const nextFree = pool.nextCoolingEnd();
  if (nextFree !== undefined && nextFree <= deadline) return null;
  const maxEni = settings.maxEni > 0 ? String(settings.maxEni) : 'unset';
  let msg =
    `node full: ${c.assigned} of ${capacity} addresses in use on ${pool.interfaces.size} interfaces ` +
    `(instance type ${cap.instanceType}, MAX_ENI ${maxEni})`;
  if (c.cooling) msg += `; ${c.cooling} more are cooling (IP_COOLDOWN_PERIOD) until after the wait would end`;
  return msg;
}
