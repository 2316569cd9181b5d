// Where the fabric learns what the cloud did: which interface is attached to which instance, with which
// MAC, and which addresses and prefixes each interface owns. The fabric only consumes FabricEvents; a
// source turns one cloud's view into them. The sim pushes them (GET /events, NDJSON); a LocalStack
// source can poll DescribeNetworkInterfaces and diff (see `diffInterfaces`), and plug in here unchanged.

export interface AttachedInterface {
  instanceId: string;
  interfaceId: string;
  mac: string;
  deviceNumber: number;
  subnetCidr: string;
  primaryAddress: string;
}

export type FabricEvent =
  | ({ type: 'interface-attached' } & AttachedInterface)
  | { type: 'interface-detached'; instanceId: string; interfaceId: string }
  /** Every interface of the instance is gone. */
  | { type: 'instance-terminated'; instanceId: string }
  | {
      type: 'addresses-assigned';
      instanceId: string;
      interfaceId: string;
      addresses: string[];
      prefixes: string[];
    }
  | {
      type: 'addresses-released';
      instanceId: string;
      interfaceId: string;
      addresses: string[];
      prefixes: string[];
    };

/** The cloud's view of one interface, as a snapshot (used to resynchronise after a reconnect). */
export interface InterfaceSnapshot extends AttachedInterface {
  addresses: string[];
  prefixes: string[];
}

export interface FabricEventSource {
  readonly name: string;
  /**
   * Calls `onSnapshot` with every attached interface of the VPC, then `onEvent` for every change after
   * it, in order, until `signal` aborts. Returns (or throws) when the connection ends; the caller then
   * runs it again, which starts with a fresh snapshot, so nothing missed while disconnected is lost.
   */
  run(
    onSnapshot: (interfaces: InterfaceSnapshot[]) => Promise<void>,
    onEvent: (e: FabricEvent) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void>;
}

/** The events that turn snapshot `before` into snapshot `after` (for polling sources). */
export function diffInterfaces(before: InterfaceSnapshot[], after: InterfaceSnapshot[]): FabricEvent[] {
  const out: FabricEvent[] = [];
  const old = new Map(before.map((i) => [i.interfaceId, i]));
  const now = new Map(after.map((i) => [i.interfaceId, i]));
  for (const [id, o] of old) {
    if (!now.has(id) || now.get(id)!.instanceId !== o.instanceId)
      out.push({ type: 'interface-detached', instanceId: o.instanceId, interfaceId: id });
  }
  for (const [id, n] of now) {
    const o = old.get(id);
    const fresh = !o || o.instanceId !== n.instanceId;
    if (fresh) {
      const { addresses: _a, prefixes: _p, ...att } = n;
      out.push({ type: 'interface-attached', ...att });
    }
    const oa = new Set(fresh ? [] : o!.addresses);
    const op = new Set(fresh ? [] : o!.prefixes);
    const na = new Set(n.addresses);
    const np = new Set(n.prefixes);
    const addA = n.addresses.filter((a) => !oa.has(a));
    const addP = n.prefixes.filter((p) => !op.has(p));
    if (addA.length || addP.length)
      out.push({
        type: 'addresses-assigned',
        instanceId: n.instanceId,
        interfaceId: id,
        addresses: addA,
        prefixes: addP,
      });
    const delA = fresh ? [] : o!.addresses.filter((a) => !na.has(a));
    const delP = fresh ? [] : o!.prefixes.filter((p) => !np.has(p));
    if (delA.length || delP.length)
      out.push({
        type: 'addresses-released',
        instanceId: n.instanceId,
        interfaceId: id,
        addresses: delA,
        prefixes: delP,
      });
  }
  return out;
}

/**
 * An event source for clouds that do not push events (EC2, LocalStack): lists every attached interface
 * every `intervalMs` and turns the differences into events. The first listing is the snapshot.
 */
export class PollingEventSource implements FabricEventSource {
  constructor(
    readonly name: string,
    private readonly list: () => Promise<InterfaceSnapshot[]>,
    private readonly intervalMs = 1000,
  ) {}

  async run(
    onSnapshot: (interfaces: InterfaceSnapshot[]) => Promise<void>,
    onEvent: (e: FabricEvent) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    let last = await this.list();
    await onSnapshot(last);
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.intervalMs);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      if (signal.aborted) return;
      const now = await this.list();
      for (const e of diffInterfaces(last, now)) await onEvent(e);
      last = now;
    }
  }
}
