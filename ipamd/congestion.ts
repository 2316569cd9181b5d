// What the reconciler does while the account throttles this daemon (its budget paces a class, pacing.ts):
// growth that no waiting request needs (the warm buffer) is deferred until the pacing ends, so that the
// account's tokens go to the nodes whose pods are waiting. Releases and detaches are kept: they give
// addresses back. Growth for parked requests is never deferred.

import type { PoolAction } from './pool/model.js';

export function deferWarmGrowth(actions: PoolAction[]): PoolAction[] {
  return actions.filter((a) => a.kind !== 'assign' && a.kind !== 'attach');
}
