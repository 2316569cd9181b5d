// Growth already asked of the cloud and not yet answered: the addresses of assign and attach calls in
// flight. A burst that keeps arriving while a round's calls are in flight (pods' ADDs land over a second
// or more, not in one instant) is planned against the pool as it will be once those calls land, so a
// second round can start at once for the requests the first one does not cover, without asking twice
// for the same addresses, reusing a device number or exceeding the node's interfaces.

import { PREFIX_SIZE, type PoolAction, type PoolInterface, type PoolState } from '../engine/model.js';

type Grow = Extract<PoolAction, { kind: 'assign' | 'attach' }>;

/** Interface ids the plan state uses for interfaces that do not exist yet (or are being removed). */
export const PLACEHOLDER_PREFIX = 'in-flight:';

export class InFlightGrowth {
  private readonly calls = new Map<number, Grow>();

  add(id: number, action: PoolAction): void {
    if (action.kind === 'assign' || action.kind === 'attach') this.calls.set(id, action);
  }

  delete(id: number): void {
    this.calls.delete(id);
  }

  get size(): number {
    return this.calls.size;
  }

  /** Addresses the calls in flight will add once they land. */
  supply(): number {
    let n = 0;
    for (const a of this.calls.values()) n += a.unit === 'prefix' ? a.count * PREFIX_SIZE : a.count;
    return n;
  }

  /**
   * The plan state as it will be once the calls in flight land: their addresses free, each interface
   * being attached present under its device number, and each interface being detached still holding
   * its device number (`detaching`, from the pool).
   */
  planState(base: PoolState, detaching: { deviceNumber: number }[], now: number): PoolState {
    const interfaces: PoolInterface[] = base.interfaces.map((i) => ({
      ...i,
      addresses: [...i.addresses],
      prefixes: [...i.prefixes],
    }));
    const byId = new Map(interfaces.map((i) => [i.id, i]));
    let seq = 0;
    const fill = (iface: PoolInterface, a: Grow) => {
      for (let k = 0; k < a.count; k++) {
        if (a.unit === 'address') {
          iface.addresses.push({ ip: `${PLACEHOLDER_PREFIX}${seq++}`, state: 'free' });
          continue;
        }
        const prefix = `${PLACEHOLDER_PREFIX}${seq++}/28`;
        iface.prefixes.push(prefix);
        for (let j = 0; j < PREFIX_SIZE; j++)
          iface.addresses.push({ ip: `${prefix}#${j}`, state: 'free', prefix });
      }
    };
    const placeholder = (deviceNumber: number): PoolInterface => ({
      id: `${PLACEHOLDER_PREFIX}device-${deviceNumber}`,
      deviceNumber,
      subnetId: '',
      primary: false,
      attachedAt: now,
      addresses: [],
      prefixes: [],
    });
    for (const d of detaching) interfaces.push(placeholder(d.deviceNumber));
    for (const a of this.calls.values()) {
      if (a.kind === 'attach') {
        const p = placeholder(a.deviceNumber);
        fill(p, a);
        interfaces.push(p);
      } else {
        const iface = byId.get(a.interfaceId);
        if (iface) fill(iface, a);
      }
    }
    return { interfaces };
  }
}

/** Growth actions a round may start while others are in flight: none on an interface not there yet. */
export function growthOnly(actions: PoolAction[]): PoolAction[] {
  return actions.filter(
    (a) => a.kind === 'attach' || (a.kind === 'assign' && !a.interfaceId.startsWith(PLACEHOLDER_PREFIX)),
  );
}
