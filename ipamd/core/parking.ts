// Allocate requests parked while the pool is empty but the node can still grow. Each waits at most
// TIDEPOOL_ADD_WAIT_MS (on the injected clock); they are served oldest first as soon as addresses
// arrive or a cooldown ends, and failed together when the node turns out to be full.

import type { Clock } from '../../providers/clock.js';
import { keyString, type NodePool } from '../state/node-pool.js';
import {
  type AllocateOutcome,
  type AllocationKey,
  type IpamObserver,
  NodeFullError,
  type PodRef,
  PoolWaitTimeoutError,
} from './types.js';

interface Parked {
  key: AllocationKey;
  pod: PodRef;
  since: number;
  promise: Promise<AllocateOutcome>;
  resolve: (o: AllocateOutcome) => void;
  reject: (e: Error) => void;
}

export interface ParkingDeps {
  pool: NodePool;
  clock: Clock;
  observer: IpamObserver;
  addWaitMs: number;
  /** Asks the reconciler for a round now. */
  kick: () => void;
  ready: () => boolean;
  /** The node-full sentence, or null while the pool can grow or a cooldown ends before `deadline`. */
  fullMessage: (deadline: number) => string | null;
  /** "N free, M assigned, …" and what the pool waits on, for the timeout message. */
  describe: () => string;
}

export class ParkingLot {
  private readonly parked = new Map<string, Parked>();
  private emptySince?: number;
  private coolingWake?: number;

  constructor(private readonly d: ParkingDeps) {}

  get size(): number {
    return this.parked.size;
  }

  /** The promise of a request with this key already waiting, if any (a repeated ADD). */
  waiting(key: AllocationKey): Promise<AllocateOutcome> | undefined {
    return this.parked.get(keyString(key))?.promise;
  }

  park(key: AllocationKey, pod: PodRef, now: number): Promise<AllocateOutcome> {
    const k = keyString(key);
    let resolve!: (o: AllocateOutcome) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<AllocateOutcome>((res, rej) => ((resolve = res), (reject = rej)));
    const p: Parked = { key, pod, since: now, promise, resolve, reject };
    this.parked.set(k, p);
    this.emptySince ??= now;
    this.d.kick();
    this.wakeForCooling();
    const waitMs = this.d.addWaitMs;
    void this.d.clock.sleep(waitMs).then(() => {
      if (this.parked.get(k) !== p) return;
      this.d.observer.allocateFailed('pool-wait-timeout');
      this.fail(
        p,
        new PoolWaitTimeoutError(
          `waited ${waitMs} ms (TIDEPOOL_ADD_WAIT_MS) for an address; ${this.parked.size} request(s) waiting; ` +
            this.d.describe(),
        ),
      );
    });
    return promise;
  }

  /** Fails the request waiting under `key`, if any. */
  /** Fails the parked request of `key`, if any; the error is built only then (Release calls this every time). */
  cancel(key: AllocationKey, err: () => Error): void {
    const p = this.parked.get(keyString(key));
    if (p) this.fail(p, err());
  }

  cancelAll(err: Error): void {
    for (const p of [...this.parked.values()]) this.fail(p, err);
  }

  private fail(p: Parked, err: Error): void {
    if (this.parked.get(keyString(p.key)) !== p) return;
    this.parked.delete(keyString(p.key));
    this.noteEmptyEnd();
    p.reject(err);
  }

  /** When every free address is cooling, wake parked requests as the first cooldown ends. */
  wakeForCooling(): void {
    const next = this.d.pool.nextCoolingEnd();
    if (next === undefined || this.coolingWake === next) return;
    this.coolingWake = next;
    void this.d.clock.sleep(Math.max(0, next - this.d.clock.now())).then(() => {
      if (this.coolingWake === next) this.coolingWake = undefined;
      this.serve();
      if (this.parked.size) this.wakeForCooling();
    });
  }

  /** Hands free addresses to parked requests, oldest first; fails them if the node turned out full. */
  serve(): void {
    if (!this.parked.size) return;
    const { pool, clock, observer } = this.d;
    const now = clock.now();
    for (const p of [...this.parked.values()]) {
      const addr = pool.pickFree(now);
      if (!addr) break;
      this.parked.delete(keyString(p.key));
      try {
        const stored = pool.assign(p.key, p.pod, addr, now);
        const waitedMs = now - p.since;
        observer.allocated(waitedMs, waitedMs);
        p.resolve({ allocation: pool.toAllocation(stored), waitedMs, reused: false });
      } catch (err) {
        p.reject(err as Error);
      }
    }
    if (this.parked.size && this.d.ready()) {
      const full = this.d.fullMessage(now + this.d.addWaitMs);
      if (full) this.cancelAll(new NodeFullError(full));
    }
    this.noteEmptyEnd();
    if (this.parked.size) this.d.kick();
  }

  private noteEmptyEnd(): void {
    if (this.parked.size || this.emptySince === undefined) return;
    this.d.observer.poolEmpty(this.d.clock.now() - this.emptySince);
    this.emptySince = undefined;
  }
}
