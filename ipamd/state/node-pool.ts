// The node's pool in memory, mirrored write-through into the state store: interfaces, their addresses
// (free, assigned, cooling) and prefixes, and the allocations. Memory answers every read (fast ADDs);
// every change is written to SQLite before it is visible, so a restart rebuilds exactly this.

import { cidrAddresses, subnetGateway } from '../../config/net.js';
import type { Clock } from '../../providers/clock.js';
import type { CloudInterface } from '../../providers/types.js';
import type { PoolInterface, PoolState } from '../engine/model.js';
import type { StateStore, StoredAllocation, StoredInterface } from './store.js';
import type { Allocation, AllocationKey, PodRef } from '../core/types.js';

export interface LiveAddress {
  ip: string;
  interfaceId: string;
  prefix?: string;
  state: 'free' | 'assigned' | 'cooling';
  coolingUntil?: number;
  addedAt: number;
}

/** An interface as the store keeps it, plus its addresses and their states in memory. */
export interface LiveInterface extends StoredInterface {
  addresses: Map<string, LiveAddress>;
  prefixes: Map<string, number>;
  /** Free addresses a pod may take (not cooling, not being released). */
  free: Set<string>;
  /** Cooling addresses in release order (cooldown is constant, so also in expiry order). */
  cooling: Map<string, number>;
  assigned: number;
  /** Being released to the cloud: neither free nor counted by the engine. */
  releasing: Set<string>;
  detaching: boolean;
  /** Slots the cloud's last listing showed taken by nothing of the pool's (see PoolInterface). */
  blockedSlots: number;
}

export const keyString = (k: AllocationKey) => `${k.network}\u0000${k.containerId}\u0000${k.ifname}`;

export class NodePool {
  readonly interfaces = new Map<string, LiveInterface>();
  readonly allocations = new Map<string, StoredAllocation>();
  readonly byAddress = new Map<string, LiveAddress>();
  /**
   * Called with the addresses just added as free (from the cloud's listing or a cloud call), before anyone
   * can take one: lost-state recovery (ipamd/recovery.ts) claims the ones running pods may hold.
   */
  onAdded?: (interfaceId: string, ips: string[]) => void;

  /**
   * @param skipPrimary custom networking (AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG): the primary interface is never
   *   a pod's, as with the incumbent (GetAllocatableENIs(skipPrimary), reference aws-vpc-cni.md 3.4): the
   *   engine does not see it, so it is never topped up, and no Allocate takes an address from it. Addresses
   *   it already holds stay where they are; pods already on them keep them.
   */
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    readonly skipPrimary = false,
  ) {}

  /** May pods get addresses of this interface (and may the engine plan for it)? */
  private usable(iface: LiveInterface): boolean {
    return !iface.detaching && !(this.skipPrimary && iface.primary);
  }

  /** Rebuilds memory from the store (on start). */
  load(): void {
    const c = this.store.load();
    for (const i of c.interfaces) this.interfaces.set(i.id, newInterface(i));
    for (const p of c.prefixes) this.interfaces.get(p.interfaceId)?.prefixes.set(p.prefix, p.addedAt);
    const cooling = [...c.addresses].sort((a, b) => (a.coolingUntil ?? 0) - (b.coolingUntil ?? 0));
    for (const a of cooling) {
      const iface = this.interfaces.get(a.interfaceId);
      if (!iface) continue;
      this.putAddress(iface, {
        ip: a.address,
        interfaceId: a.interfaceId,
        prefix: a.prefix ?? undefined,
        state: a.state,
        coolingUntil: a.coolingUntil ?? undefined,
        addedAt: a.addedAt,
      });
    }
    for (const a of c.allocations) this.allocations.set(keyString(a.key), a);
  }

  private putAddress(iface: LiveInterface, a: LiveAddress): void {
    iface.addresses.set(a.ip, a);
    this.byAddress.set(a.ip, a);
    if (a.state === 'free') iface.free.add(a.ip);
    else if (a.state === 'cooling') iface.cooling.set(a.ip, a.coolingUntil ?? 0);
    else iface.assigned++;
  }

  addInterface(ci: CloudInterface, primary: boolean, attachedAt: number): LiveInterface {
    const existing = this.interfaces.get(ci.id);
    if (existing) return existing;
    const stored = {
      id: ci.id,
      deviceNumber: ci.deviceNumber,
      mac: ci.mac,
      subnetId: ci.subnetId,
      subnetCidr: ci.subnetCidr,
      primaryAddress: ci.primaryAddress,
      primary,
      attachedAt,
    };
    this.store.putInterface(stored);
    const iface = newInterface(stored);
    this.interfaces.set(ci.id, iface);
    this.addAddresses(ci.id, ci.addresses);
    for (const p of ci.prefixes) this.addPrefix(ci.id, p);
    return iface;
  }

  addAddresses(interfaceId: string, ips: string[]): string[] {
    const iface = this.interfaces.get(interfaceId);
    if (!iface) return [];
    const fresh = ips.filter((ip) => !this.byAddress.has(ip) && ip !== iface.primaryAddress);
    if (!fresh.length) return [];
    this.store.addAddresses(interfaceId, fresh);
    const now = this.clock.now();
    for (const ip of fresh) this.putAddress(iface, { ip, interfaceId, state: 'free', addedAt: now });
    this.onAdded?.(interfaceId, fresh);
    return fresh;
  }

  addPrefix(interfaceId: string, prefix: string): string[] {
    const iface = this.interfaces.get(interfaceId);
    if (!iface || iface.prefixes.has(prefix)) return [];
    const ips = cidrAddresses(prefix).filter((ip) => !this.byAddress.has(ip));
    this.store.addAddresses(interfaceId, ips, prefix);
    const now = this.clock.now();
    iface.prefixes.set(prefix, now);
    for (const ip of ips) this.putAddress(iface, { ip, interfaceId, prefix, state: 'free', addedAt: now });
    this.onAdded?.(interfaceId, ips);
    return ips;
  }

  /** Removes addresses/prefixes (released, or gone from the cloud) with any allocation on them. */
  removeAddresses(interfaceId: string, ips: string[], prefixes: string[] = []): void {
    const iface = this.interfaces.get(interfaceId);
    if (!iface) return;
    this.store.removeAddresses(ips, prefixes);
    const drop = new Set(ips);
    for (const p of prefixes) {
      iface.prefixes.delete(p);
      for (const a of iface.addresses.values()) if (a.prefix === p) drop.add(a.ip);
    }
    for (const ip of drop) this.forgetAddress(iface, ip);
  }

  private forgetAddress(iface: LiveInterface, ip: string): void {
    const a = iface.addresses.get(ip);
    if (!a) return;
    if (a.state === 'assigned') {
      iface.assigned--;
      for (const [k, alloc] of this.allocations) if (alloc.address === ip) this.allocations.delete(k);
    }
    iface.addresses.delete(ip);
    iface.free.delete(ip);
    iface.cooling.delete(ip);
    iface.releasing.delete(ip);
    this.byAddress.delete(ip);
  }

  removeInterface(id: string): void {
    const iface = this.interfaces.get(id);
    if (!iface) return;
    this.store.removeInterface(id);
    for (const ip of [...iface.addresses.keys()]) this.forgetAddress(iface, ip);
    this.interfaces.delete(id);
  }

  /** Moves cooling addresses whose cooldown has passed back to free. */
  private promote(iface: LiveInterface, now: number): void {
    for (const [ip, until] of iface.cooling) {
      if (until > now) break;
      iface.cooling.delete(ip);
      const a = iface.addresses.get(ip);
      if (a && a.state === 'cooling') {
        a.state = 'free';
        a.coolingUntil = undefined;
        if (!iface.releasing.has(ip)) iface.free.add(ip);
      }
    }
  }

  /** A free address, bin-packed: on the usable interface with the most addresses in use. */
  pickFree(now: number): LiveAddress | null {
    let best: LiveInterface | null = null;
    for (const iface of this.interfaces.values()) {
      if (!this.usable(iface)) continue;
      this.promote(iface, now);
      if (iface.free.size === 0) continue;
      if (
        !best ||
        iface.assigned > best.assigned ||
        (iface.assigned === best.assigned && iface.deviceNumber < best.deviceNumber)
      )
        best = iface;
    }
    if (!best) return null;
    const ip = best.free.values().next().value as string;
    return best.addresses.get(ip) ?? null;
  }

  assign(key: AllocationKey, pod: PodRef, address: LiveAddress, now: number): StoredAllocation {
    const stored: StoredAllocation = {
      key,
      pod,
      address: address.ip,
      interfaceId: address.interfaceId,
      allocatedAt: now,
    };
    this.store.allocate(stored);
    const iface = this.interfaces.get(address.interfaceId)!;
    iface.free.delete(address.ip);
    iface.cooling.delete(address.ip);
    iface.assigned++;
    address.state = 'assigned';
    address.coolingUntil = undefined;
    this.allocations.set(keyString(key), stored);
    return stored;
  }

  release(key: AllocationKey, coolingUntil: number): StoredAllocation | null {
    const k = keyString(key);
    const alloc = this.allocations.get(k);
    if (!alloc) return null;
    this.store.release(key, coolingUntil);
    this.allocations.delete(k);
    const a = this.byAddress.get(alloc.address);
    const iface = a && this.interfaces.get(a.interfaceId);
    if (a && iface && a.state === 'assigned') {
      iface.assigned--;
      a.state = 'cooling';
      a.coolingUntil = coolingUntil;
      iface.cooling.set(a.ip, coolingUntil);
    }
    return alloc;
  }

  /** Takes addresses out of use while a release call is in flight. */
  markReleasing(interfaceId: string, ips: string[]): void {
    const iface = this.interfaces.get(interfaceId);
    if (!iface) return;
    for (const ip of ips) {
      iface.releasing.add(ip);
      iface.free.delete(ip);
    }
  }

  /** The release call failed: the addresses are still ours and usable. */
  unmarkReleasing(interfaceId: string, ips: string[]): void {
    const iface = this.interfaces.get(interfaceId);
    if (!iface) return;
    for (const ip of ips) {
      iface.releasing.delete(ip);
      const a = iface.addresses.get(ip);
      if (a?.state === 'free') iface.free.add(ip);
    }
  }

  toAllocation(s: StoredAllocation): Allocation {
    const iface = this.interfaces.get(s.interfaceId);
    const deviceNumber = iface?.deviceNumber ?? 0;
    const subnetCidr = iface?.subnetCidr ?? '';
    return {
      key: s.key,
      pod: s.pod,
      address: s.address,
      interfaceId: s.interfaceId,
      deviceNumber,
      routeTable: iface?.primary ? 254 : deviceNumber + 1,
      subnetGateway: subnetCidr ? subnetGateway(subnetCidr) : '',
      subnetCidr,
      allocatedAt: s.allocatedAt,
    };
  }

  counts(now: number): { free: number; assigned: number; cooling: number; total: number } {
    let free = 0;
    let assigned = 0;
    let cooling = 0;
    let total = 0;
    for (const iface of this.interfaces.values()) {
      this.promote(iface, now);
      total += iface.addresses.size;
      assigned += iface.assigned;
      cooling += iface.cooling.size;
      if (this.usable(iface)) free += iface.free.size;
    }
    return { free, assigned, cooling, total };
  }

  /** The earliest time a cooling address becomes free, or undefined. */
  nextCoolingEnd(): number | undefined {
    let t: number | undefined;
    for (const iface of this.interfaces.values()) {
      const first = iface.cooling.values().next();
      if (!first.done && (t === undefined || first.value < t)) t = first.value;
    }
    return t;
  }

  /** The engine's view: usable interfaces and addresses (nothing being released or detached; no primary
   * interface under custom networking). */
  toPlanState(): PoolState {
    const interfaces: PoolInterface[] = [];
    for (const iface of this.interfaces.values()) {
      if (!this.usable(iface)) continue;
      const addresses = [];
      for (const a of iface.addresses.values()) {
        if (iface.releasing.has(a.ip) || (a.prefix && iface.releasing.has(a.prefix))) continue;
        addresses.push({ ip: a.ip, state: a.state, coolingUntil: a.coolingUntil, prefix: a.prefix });
      }
      interfaces.push({
        id: iface.id,
        deviceNumber: iface.deviceNumber,
        subnetId: iface.subnetId,
        primary: iface.primary,
        attachedAt: iface.attachedAt,
        addresses,
        prefixes: [...iface.prefixes.keys()].filter((p) => !iface.releasing.has(p)),
        blockedSlots: iface.blockedSlots,
      });
    }
    return { interfaces };
  }
}

function newInterface(i: StoredInterface): LiveInterface {
  return {
    ...i,
    addresses: new Map(),
    prefixes: new Map(),
    free: new Set(),
    cooling: new Map(),
    assigned: 0,
    releasing: new Set(),
    detaching: false,
    blockedSlots: 0,
  };
}
