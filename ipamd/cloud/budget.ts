// The one budget every cloud call of the daemon goes through (ARCHITECTURE section 6): bounded
// concurrency (p-queue), a token bucket per API class, jittered exponential backoff on throttling and
// transient errors, one call at a time per interface (Azure rewrites a NIC's whole configuration; EC2
// answers a concurrent change of one ENI with InUse), and sharing of an identical call already waiting.
// Time is the injected Clock, so all of this runs in virtual time in tests and benchmarks.

import PQueue from 'p-queue';
import type { Clock } from '../../providers/clock.js';
import { isRetryable, ThrottledError } from '../../providers/errors.js';
import type { CloudCallOutcome, IpamObserver } from '../core/types.js';

export type ApiClass = 'describe' | 'addresses' | 'interfaces';

export interface BucketSpec {
  capacity: number;
  refillPerSec: number;
}

export interface BudgetOptions {
  clock: Clock;
  observer?: IpamObserver;
  /** Cloud calls in flight at once. Default 4. */
  concurrency?: number;
  /** Per-node client-side buckets, well under EC2's account-wide ones (cloud-api-figures.md 1.3). */
  buckets?: Partial<Record<ApiClass, BucketSpec>>;
  /** Attempts per call on throttling/transient errors. Default 8. */
  maxAttempts?: number;
  /** Backoff base (ms) for transient errors; throttling uses 5×. Full jitter, capped at maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Random source in [0, 1), injectable for deterministic tests. */
  random?: () => number;
  /** Calls kept for introspection. Default 200. */
  recentSize?: number;
}

export const DEFAULT_BUCKETS: Record<ApiClass, BucketSpec> = {
  describe: { capacity: 20, refillPerSec: 5 },
  addresses: { capacity: 10, refillPerSec: 2 },
  interfaces: { capacity: 5, refillPerSec: 1 },
};

export interface CloudCallRecord {
  at: number;
  action: string;
  target?: string;
  attempt: number;
  ms: number;
  outcome: CloudCallOutcome;
  error?: string;
}

export interface CallOptions {
  /** Interface the call changes: calls with the same target run one at a time. */
  target?: string;
  /** Share the promise of an identical call (same action and target) that has not started yet. */
  coalesce?: boolean;
}

class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly spec: BucketSpec,
    private readonly clock: Clock,
  ) {
    this.tokens = spec.capacity;
    this.last = clock.now();
  }

  async take(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      this.tokens = Math.min(
        this.spec.capacity,
        this.tokens + ((now - this.last) / 1000) * this.spec.refillPerSec,
      );
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.spec.refillPerSec) * 1000));
    }
  }
}

export class CloudBudget {
  private readonly clock: Clock;
  private readonly observer?: IpamObserver;
  private readonly queue: PQueue;
  private readonly buckets: Record<ApiClass, TokenBucket>;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly random: () => number;
  private readonly recentSize: number;
  private readonly recentCalls: CloudCallRecord[] = [];
  private readonly perTarget = new Map<string, Promise<unknown>>();
  private readonly waiting = new Map<string, Promise<unknown>>();
  private inFlight = 0;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  /** Totals since start, for introspection and tests. */
  readonly totals = { calls: 0, throttled: 0, errors: 0, retries: 0 };

  constructor(opts: BudgetOptions) {
    this.clock = opts.clock;
    this.observer = opts.observer;
    this.queue = new PQueue({ concurrency: opts.concurrency ?? 4 });
    const specs = { ...DEFAULT_BUCKETS, ...opts.buckets };
    this.buckets = {
      describe: new TokenBucket(specs.describe, this.clock),
      addresses: new TokenBucket(specs.addresses, this.clock),
      interfaces: new TokenBucket(specs.interfaces, this.clock),
    };
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 20_000;
    this.random = opts.random ?? Math.random;
    this.recentSize = opts.recentSize ?? 200;
  }

  /** Runs `fn` (one cloud call) under the budget, retrying throttled and transient failures. */
  run<T>(action: string, apiClass: ApiClass, fn: () => Promise<T>, opts: CallOptions = {}): Promise<T> {
    const dedupeKey = `${action}\u0000${opts.target ?? ''}`;
    if (opts.coalesce) {
      const same = this.waiting.get(dedupeKey);
      if (same) return same as Promise<T>;
    }
    this.inFlight++;
    let started = false;
    const box: { p?: Promise<T> } = {};
    const chained = this.afterTarget(opts.target, () => {
      started = true;
      if (box.p && this.waiting.get(dedupeKey) === box.p) this.waiting.delete(dedupeKey);
      return this.attempts(action, apiClass, fn, opts.target);
    });
    const result: Promise<T> = chained.finally(() => {
      if (this.waiting.get(dedupeKey) === result) this.waiting.delete(dedupeKey);
      if (--this.inFlight === 0) this.idleWaiters.splice(0).forEach((w) => w());
    });
    box.p = result;
    if (opts.coalesce && !started) this.waiting.set(dedupeKey, result);
    return result;
  }

  /** No more retries: a call that fails from now on fails at once (shutdown lets calls finish, not retry). */
  close(): void {
    this.closing = true;
  }

  /** Resolves when no call is in flight or waiting. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The most recent calls, oldest first. */
  recent(): CloudCallRecord[] {
    return [...this.recentCalls];
  }

  private afterTarget<T>(target: string | undefined, fn: () => Promise<T>): Promise<T> {
    if (!target) return fn();
    const prev = this.perTarget.get(target) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.perTarget.set(target, tail);
    void tail.then(() => {
      if (this.perTarget.get(target) === tail) this.perTarget.delete(target);
    });
    return next;
  }

  private async attempts<T>(
    action: string,
    apiClass: ApiClass,
    fn: () => Promise<T>,
    target?: string,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      await this.buckets[apiClass].take();
      const start = this.clock.now();
      try {
        const result = await this.queue.add(fn);
        this.record({ at: start, action, target, attempt, ms: this.clock.now() - start, outcome: 'ok' });
        return result as T;
      } catch (err) {
        const throttled = err instanceof ThrottledError;
        const ms = this.clock.now() - start;
        const message = err instanceof Error ? err.message : String(err);
        this.record({
          at: start,
          action,
          target,
          attempt,
          ms,
          outcome: throttled ? 'throttled' : 'error',
          error: message,
        });
        if (!isRetryable(err) || attempt >= this.maxAttempts || this.closing) throw err;
        this.totals.retries++;
        // Full jitter (AWS SDK / EC2 guidance): uniformly random in [0, min(cap, base × 2^attempt)).
        const base = throttled ? this.baseDelayMs * 5 : this.baseDelayMs;
        await this.clock.sleep(Math.floor(this.random() * Math.min(this.maxDelayMs, base * 2 ** attempt)));
      }
    }
  }

  private record(r: CloudCallRecord): void {
    this.totals.calls++;
    if (r.outcome === 'throttled') this.totals.throttled++;
    if (r.outcome === 'error') this.totals.errors++;
    this.recentCalls.push(r);
    if (this.recentCalls.length > this.recentSize) this.recentCalls.shift();
    this.observer?.cloudCall(r.action, r.ms, r.outcome, r.error);
  }
}
