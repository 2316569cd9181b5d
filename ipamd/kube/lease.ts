// One daemon at a time does the cluster-wide chores (the leaked-interface sweep), chosen with a
// coordination.k8s.io Lease, the way client-go's leader election works: the holder renews every third of the
// lease duration; another daemon takes the lease over only after it has seen the same holder and renew time
// for a whole lease duration on its own clock (clock skew between nodes does not matter); every write is a
// replace guarded by resourceVersion, so two candidates can never both win. A stopping leader hands the lease
// back (empty holder), so the next one takes over at once instead of after a duration.
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { apiMessage, apiStatus } from './client.js';

/**
 * A MicroTime as the API server parses it (RFC 3339 with exactly six fractional digits); client-node would
 * send a Date with three, which the server refuses for the Lease's time fields.
 */
export function microTime(at: number | Date): Date {
  const iso = new Date(at).toISOString(); // 2026-12-02T02:17:09.123Z
  return `${iso.slice(0, 23)}000Z` as unknown as Date;
}

export interface LeaseOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  durationMs: number;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  now?: () => number;
}

export class LeaseElector {
  leading = false;
  private observed?: { record: string; at: number };
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private running?: Promise<void>;

  constructor(private readonly o: LeaseOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  start(): void {
    const tick = () => {
      if (this.stopping) return;
      this.running = this.tryAcquireOrRenew()
        .then(() => undefined)
        .catch((err: unknown) => {
          this.o.log.warn({ err: apiMessage(err), lease: this.o.name }, 'lease: API call failed');
          this.setLeading(false);
        })
        .finally(() => {
          if (!this.stopping) this.timer = setTimeout(tick, this.o.durationMs / 3);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running;
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.o.identity) {
        lease.spec.holderIdentity = '';
        lease.spec.leaseDurationSeconds = 1;
        if (lease.spec.renewTime) lease.spec.renewTime = microTime(lease.spec.renewTime);
        if (lease.spec.acquireTime) lease.spec.acquireTime = microTime(lease.spec.acquireTime);
        await this.o.api.replaceNamespacedLease({
          name: this.o.name,
          namespace: this.o.namespace,
          body: lease,
        });
      }
    } catch (err) {
      this.o.log.warn({ err: apiMessage(err) }, 'lease: cannot hand the lease back');
    }
  }

  private async read(): Promise<V1Lease | null> {
    try {
      return await this.o.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
    } catch (err) {
      if (apiStatus(err) === 404) return null;
      throw err;
    }
  }

  /** One round: create, renew or take over the lease, or observe its holder. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const seconds = Math.max(1, Math.round(this.o.durationMs / 1000));
    const lease = await this.read();
    if (!lease) {
      try {
        await this.o.api.createNamespacedLease({
          namespace: this.o.namespace,
          body: {
            metadata: { name: this.o.name, namespace: this.o.namespace },
            spec: {
              holderIdentity: this.o.identity,
              leaseDurationSeconds: seconds,
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
        });
      } catch (err) {
        if (apiStatus(err) === 409) return this.setLeading(false); // another daemon created it first
        throw err;
      }
      return this.setLeading(true);
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}|${spec.renewTime ? new Date(spec.renewTime).getTime() : ''}`;
    if (this.observed?.record !== record) this.observed = { record, at: now };
    const durationMs = (spec.leaseDurationSeconds ?? seconds) * 1000;
    const expired = holder === '' || now - this.observed.at >= durationMs;
    if (holder !== this.o.identity && !expired) return this.setLeading(false);
    const takeover = holder !== this.o.identity;
    lease.spec = {
      ...spec,
      holderIdentity: this.o.identity,
      leaseDurationSeconds: seconds,
      renewTime: microTime(now),
      acquireTime: microTime(takeover || !spec.acquireTime ? now : spec.acquireTime),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (takeover ? 1 : 0),
    };
    try {
      await this.o.api.replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body: lease,
      });
    } catch (err) {
      if (apiStatus(err) === 409) return this.setLeading(false); // someone else wrote first
      throw err;
    }
    this.observed = { record: `${this.o.identity}|${now}`, at: now };
    return this.setLeading(true);
  }

  private setLeading(leading: boolean): boolean {
    if (leading === this.leading) return leading;
    this.leading = leading;
    this.o.log.info(
      { lease: this.o.name, identity: this.o.identity, leading },
      leading ? 'lease acquired' : 'lease lost',
    );
    if (leading) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
    return leading;
  }
}
