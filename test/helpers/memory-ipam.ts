// A small in-memory Ipam for the edge tests (server, introspection, metrics): a fixed list of addresses on
// one interface. The edges are tested against the Ipam facade alone here; the real core, store and sim are
// exercised by the daemon integration, crash and bench suites.
import {
  NodeFullError,
  type AllocateOutcome,
  type Allocation,
  type AllocationKey,
  type Ipam,
  type PodRef,
  type PoolStatus,
} from '../../ipamd/core/types.js';

const keyOf = (k: AllocationKey) => `${k.network}/${k.containerId}/${k.ifname}`;

export class MemoryIpam implements Ipam {
  readonly allocations = new Map<string, Allocation>();
  private readonly free: string[];
  /** When set, allocate() waits for it before answering (to hold a call in flight). */
  gate: Promise<void> | null = null;
  /** When set, allocate() throws it. */
  failWith: Error | null = null;
  ready = true;

  constructor(addresses = ['10.0.1.10', '10.0.1.11', '10.0.1.12']) {
    this.free = [...addresses];
  }

  async allocate(key: AllocationKey, pod: PodRef): Promise<AllocateOutcome> {
    const existing = this.allocations.get(keyOf(key));
    if (existing) return { allocation: existing, waitedMs: 0, reused: true };
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    const address = this.free.shift();
    if (!address) throw new NodeFullError('node is full: 3 of 3 addresses assigned');
    const allocation: Allocation = {
      key,
      pod,
      address,
      interfaceId: 'eni-0001',
      deviceNumber: 1,
      routeTable: 2,
      subnetGateway: '10.0.1.1',
      subnetCidr: '10.0.1.0/24',
      allocatedAt: Date.now(),
    };
    this.allocations.set(keyOf(key), allocation);
    return { allocation, waitedMs: 0, reused: false };
  }

  async release(key: AllocationKey): Promise<Allocation | null> {
    const a = this.allocations.get(keyOf(key));
    if (!a) return null;
    this.allocations.delete(keyOf(key));
    this.free.push(a.address);
    return a;
  }

  check(key: AllocationKey): Allocation | null {
    return this.allocations.get(keyOf(key)) ?? null;
  }

  async gc(network: string, valid: { containerId: string; ifname: string }[]): Promise<string[]> {
    const keep = new Set(valid.map((v) => `${network}/${v.containerId}/${v.ifname}`));
    const released: string[] = [];
    for (const [k, a] of this.allocations) {
      if (a.key.network === network && !keep.has(k)) {
        this.allocations.delete(k);
        this.free.push(a.address);
        released.push(a.address);
      }
    }
    return released;
  }

  status(): PoolStatus {
    const assigned = this.allocations.size;
    return {
      ready: this.ready,
      message: this.ready ? 'ok' : 'not ready',
      free: this.free.length,
      assigned,
      cooling: 0,
      total: assigned + this.free.length,
      capacity: 3,
      interfaces: 1,
      parked: 0,
    };
  }

  snapshot(): unknown {
    return {
      interfaces: [{ id: 'eni-0001', deviceNumber: 1, addresses: [...this.free] }],
      allocations: [...this.allocations.values()],
      cloud: {
        recentCalls: [{ action: 'AssignPrivateIpAddresses', ms: 12, outcome: 'ok' }],
        waitingOn: 'nothing',
      },
    };
  }
}
