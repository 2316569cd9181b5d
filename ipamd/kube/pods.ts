// The pods bound to this node (a list and watch with the field selector spec.nodeName=<node>, as the
// incumbent's cached client), for two jobs:
// - releasing the allocation of a pod that no longer exists (or has finished: Succeeded/Failed) after a grace
//   period, when its DEL never reached the daemon (it was down, or the runtime lost the sandbox);
// - proving which addresses are in use after a restart with lost state: podsInUse() and whenSynced() are
//   the interface the daemon's recovery uses.
// Safety: nothing is released unless the pod list is synced and the watch is connected, the pod has been
// missing for the whole grace period, and the allocation is at least as old as the grace (a pod created
// while the watch was behind is never mistaken for a gone one). A watch error resets every "missing since".
import { ListWatch, Watch, type CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Allocation, AllocationKey } from '../core/types.js';
import { apiMessage } from './client.js';

export interface PodDirectory {
  /** True once the first list of this node's pods has arrived and the watch is connected. */
  synced(): boolean;
  /** Resolves when synced() first becomes true. */
  whenSynced(): Promise<void>;
  /**
   * What the live pods of this node hold: `namespace/name`, the pod's uid and each of its pod IPs. A pod
   * that has finished (Succeeded/Failed) is not in use.
   */
  podsInUse(): Set<string>;
}

export interface PodWatchOptions {
  kc: KubeConfig;
  api: CoreV1Api;
  nodeName: string;
  /** The allocations held now, and how to release one (the address cools down as after a DEL). */
  allocations: () => Allocation[];
  release: (key: AllocationKey, reason: string) => Promise<unknown>;
  graceMs: number;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  now?: () => number;
  onReleased?: (a: Allocation) => void;
}

const TERMINAL = new Set(['Succeeded', 'Failed']);

const identity = (a: Allocation) =>
  `${a.key.network}\u0000${a.key.containerId}\u0000${a.key.ifname}\u0000${a.allocatedAt}`;

/** Why an allocation's pod is gone, or null while it is live (or the allocation has no pod to check). */
export function podGone(
  a: Allocation,
  find: (namespace: string, name: string) => V1Pod | undefined,
): string | null {
  if (!a.pod.namespace || !a.pod.name) return null; // not made for a Kubernetes pod: not ours to judge
  const pod = find(a.pod.namespace, a.pod.name);
  if (!pod) return 'pod deleted';
  if (a.pod.uid && pod.metadata?.uid && a.pod.uid !== pod.metadata.uid) return 'pod replaced (new uid)';
  if (pod.status?.phase && TERMINAL.has(pod.status.phase)) return `pod ${pod.status.phase}`;
  return null;
}

export class PodWatch implements PodDirectory {
  private readonly informer: ListWatch<V1Pod>;
  private listed = false;
  private connected = false;
  private stopping = false;
  private readonly missingSince = new Map<string, number>();
  private syncedResolve!: () => void;
  private readonly syncedPromise = new Promise<void>((r) => (this.syncedResolve = r));
  private timer?: NodeJS.Timeout;
  private restartTimer?: NodeJS.Timeout;
  released = 0;

  constructor(private readonly o: PodWatchOptions) {
    const fieldSelector = `spec.nodeName=${o.nodeName}`;
    this.informer = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new Watch(o.kc),
      async () => {
        const list = await o.api.listPodForAllNamespaces({ fieldSelector });
        this.listed = true;
        return list;
      },
      false,
      undefined,
      fieldSelector,
    );
    this.informer.on('connect', () => (this.connected = true));
    this.informer.on('add', () => this.markSynced());
    this.informer.on('error', (err: unknown) => {
      this.connected = false;
      this.missingSince.clear();
      if (this.stopping) return;
      o.log.warn({ err: apiMessage(err) }, 'pod watch failed; restarting in 5 s');
      this.restartTimer = setTimeout(() => void this.run(), 5_000);
    });
  }

  start(): void {
    void this.run();
    const period = Math.max(250, Math.min(10_000, Math.floor(this.o.graceMs / 4) || 250));
    this.timer = setInterval(() => void this.reap(), period);
  }

  private async run(): Promise<void> {
    if (this.stopping) return;
    await this.informer.start();
    this.markSynced();
  }

  private markSynced(): void {
    if (this.listed && this.connected) this.syncedResolve();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    clearTimeout(this.restartTimer);
    await this.informer.stop();
  }

  synced(): boolean {
    return this.listed && this.connected;
  }

  whenSynced(): Promise<void> {
    return this.syncedPromise;
  }

  podsInUse(): Set<string> {
    const out = new Set<string>();
    for (const p of this.informer.list()) {
      if (p.status?.phase && TERMINAL.has(p.status.phase)) continue;
      out.add(`${p.metadata?.namespace}/${p.metadata?.name}`);
      if (p.metadata?.uid) out.add(p.metadata.uid);
      for (const ip of p.status?.podIPs ?? []) if (ip.ip) out.add(ip.ip);
      if (p.status?.podIP) out.add(p.status.podIP);
    }
    return out;
  }

  /** One pass: note pods gone, release allocations whose pod has been gone for the whole grace. */
  async reap(): Promise<Allocation[]> {
    if (!this.synced() || this.stopping) return [];
    const now = (this.o.now ?? Date.now)();
    const released: Allocation[] = [];
    const seen = new Set<string>();
    for (const a of this.o.allocations()) {
      const id = identity(a);
      const why = podGone(a, (ns, name) => this.informer.get(name, ns));
      if (!why) continue;
      seen.add(id);
      const since = this.missingSince.get(id) ?? now;
      this.missingSince.set(id, since);
      if (now - since < this.o.graceMs || now - a.allocatedAt < this.o.graceMs) continue;
      if (!this.synced()) break;
      try {
        await this.o.release(a.key, 'pod-gone');
        this.missingSince.delete(id);
        released.push(a);
        this.released++;
        this.o.onReleased?.(a);
        this.o.log.info(
          { address: a.address, pod: `${a.pod.namespace}/${a.pod.name}`, why },
          'released the address of a pod that is gone',
        );
      } catch (err) {
        this.o.log.warn({ err: String(err), address: a.address }, 'cannot release a gone pod address');
      }
    }
    for (const id of [...this.missingSince.keys()]) if (!seen.has(id)) this.missingSince.delete(id);
    return released;
  }
}
