// Events on the daemon's Node (namespace default, as the kubelet records node events), so
// `kubectl describe node` and event pipelines show why pods cannot get addresses. A repeat of the same reason
// and message within the aggregation window bumps the existing Event's count instead of creating another,
// as client-go's correlator does; at most one API write per reason per `minIntervalMs` (an exhausted node
// retries every 5 s; the API server must not pay for each).
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import { apiMessage } from './client.js';

export type EventType = 'Normal' | 'Warning';

export interface EventSink {
  record(type: EventType, reason: string, message: string): void;
}

export interface NodeEventsOptions {
  api: CoreV1Api;
  node: { name: string; uid: string };
  component: string;
  log: { warn(o: object, msg: string): void };
  minIntervalMs?: number;
  now?: () => number;
}

interface Recorded {
  name: string;
  message: string;
  count: number;
  firstTimestamp: Date;
  lastWrite: number;
  pending?: boolean;
}

const AGGREGATE_MS = 10 * 60_000;

export class NodeEvents implements EventSink {
  private readonly byReason = new Map<string, Recorded>();
  private readonly inFlight = new Set<Promise<void>>();
  private seq = 0;

  constructor(private readonly o: NodeEventsOptions) {}

  record(type: EventType, reason: string, message: string): void {
    const p = this.write(type, reason, message.slice(0, 1024)).catch((err: unknown) =>
      this.o.log.warn({ reason, err: apiMessage(err) }, 'cannot record an Event'),
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Waits for writes in flight (stop, tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private async write(type: EventType, reason: string, message: string): Promise<void> {
    const now = (this.o.now ?? Date.now)();
    const prev = this.byReason.get(reason);
    const minInterval = this.o.minIntervalMs ?? 30_000;
    if (prev && (prev.pending || now - prev.lastWrite < minInterval)) {
      if (prev.message === message) prev.count++;
      return;
    }
    const ns = 'default';
    if (prev && prev.message === message && now - prev.firstTimestamp.getTime() < AGGREGATE_MS) {
      prev.count++;
      prev.pending = true;
      try {
        await this.o.api.patchNamespacedEvent({
          name: prev.name,
          namespace: ns,
          body: [
            { op: 'replace', path: '/count', value: prev.count },
            { op: 'replace', path: '/lastTimestamp', value: new Date(now).toISOString() },
          ],
        });
        prev.lastWrite = now;
        return;
      } catch {
        // gone (events expire after an hour by default): create a new one below
      } finally {
        prev.pending = false;
      }
    }
    const name = `${this.o.node.name}.${now.toString(16)}${(this.seq++).toString(16)}`;
    const at = new Date(now);
    const rec: Recorded = { name, message, count: 1, firstTimestamp: at, lastWrite: now, pending: true };
    this.byReason.set(reason, rec);
    const body: CoreV1Event = {
      metadata: { name, namespace: ns },
      involvedObject: { kind: 'Node', name: this.o.node.name, uid: this.o.node.uid, apiVersion: 'v1' },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: at,
      lastTimestamp: at,
      source: { component: this.o.component, host: this.o.node.name },
      reportingComponent: this.o.component,
      reportingInstance: this.o.node.name,
    };
    try {
      await this.o.api.createNamespacedEvent({ namespace: ns, body });
    } finally {
      rec.pending = false;
    }
  }
}
