// What the reconciler does while the account throttles this daemon (its budget paces a class, pacing.ts):
// growth that no waiting request needs (the warm buffer) is deferred until the pacing ends, so that the
// account's tokens go to the nodes whose pods are waiting. Releases and detaches are kept: they give
// addresses back. Growth for parked requests is never deferred.

import type { PoolAction } from '../engine/model.js';

export function deferWarmGrowth(actions: PoolAction[]): PoolAction[] {
  return actions.filter((a) => a.kind !== 'assign' && a.kind !== 'attach');
}

/** A warm-only new interface is attached only this long after the node's last parked request. */
export const LAZY_ATTACH_QUIET_MS = 60_000;

/**
 * Attaching an interface that no waiting request needs (the warm buffer's next interface) is not
 * urgent, and AttachNetworkInterface has the account's smallest bucket (50, 5/s: cloud-api-figures.md
 * 1.3). When a whole fleet boots, every node's pods park at once and every node's warm attach would land
 * while later nodes' pods still wait for theirs. So a warm-only attach waits until the node has had no
 * parked request for LAZY_ATTACH_QUIET_MS: right after a burst was served it is deferred, in steady
 * state (nothing parks) it goes at once. Growth for parked requests, and address top-ups of existing
 * interfaces, are never deferred. The reconciler applies it where the warm buffer is whole interfaces
 * (WARM_ENI_TARGET) or learned (adaptive), not to a WARM_IP_TARGET an operator tuned.
 */
export class LazyWarmAttach {
  private lastParkedAt = -Infinity;

  constructor(private readonly quietMs = LAZY_ATTACH_QUIET_MS) {}

  filter(actions: PoolAction[], parked: number, now: number): PoolAction[] {
    if (parked > 0) {
      this.lastParkedAt = now;
      return actions;
    }
    if (now - this.lastParkedAt >= this.quietMs) return actions;
    return actions.filter((a) => a.kind !== 'attach');
  }
}
