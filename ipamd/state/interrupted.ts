// Pool changes cut short by a crash. Before a release or detach call the pool writes an intent; if the
// daemon dies before the call returns, the addresses (or the interface) may already be gone from the
// cloud, so on restart they are dropped from the store before any Allocate is served from it. If the
// cloud still has them, the first resync adopts them again: nothing is lost, nothing is handed out twice.

import type { StateStore } from './store.js';

export const RELEASE_INTENT = 'pool-release';
export const DETACH_INTENT = 'pool-detach';

export interface InterruptedChanges {
  addresses: string[];
  prefixes: string[];
  interfaces: string[];
}

export function dropInterruptedChanges(store: StateStore): InterruptedChanges {
  const out: InterruptedChanges = { addresses: [], prefixes: [], interfaces: [] };
  for (const intent of store.openIntents()) {
    const d = intent.details as { interfaceId?: string; addresses?: string[]; prefixes?: string[] };
    if (intent.kind === RELEASE_INTENT) {
      store.removeAddresses(d.addresses ?? [], d.prefixes ?? []);
      out.addresses.push(...(d.addresses ?? []));
      out.prefixes.push(...(d.prefixes ?? []));
    } else if (intent.kind === DETACH_INTENT && d.interfaceId) {
      store.removeInterface(d.interfaceId);
      out.interfaces.push(d.interfaceId);
    } else continue;
    store.end(intent.id);
  }
  return out;
}
