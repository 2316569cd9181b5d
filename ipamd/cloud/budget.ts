// The one budget every cloud call of the daemon goes through (ARCHITECTURE section 6): bounded
// concurrency (p-queue), a token bucket per API class, jittered exponential backoff on throttling and
// transient errors, one call at a time per interface (Azure rewrites a NIC's whole configuration; EC2
// answers a concurrent change of one ENI with InUse), and sharing of an identical call already waiting.
// Time is the injected Clock, so all of this runs in virtual time in tests and benchmarks.
// Account-aware pacing (pacing.ts): once the cloud throttles a class, the daemon paces that class like a
// congestion controller (AIMD with jitter); a throttled call then waits for its paced turn instead of an
// exponential backoff. Optional gates: a shared limiter (the central-broker comparison of the fleet
// bench) and the AWS SDK's retry quota (retry-quota.ts, the incumbent comparison).

import PQueue from 'p-queue';
import type { Clock } from '../../providers/clock.js';
import { isRetryable, ThrottledError } from '../../providers/errors.js';
import { TokenBucket, type BucketSpec } from '../../providers/token-bucket.js';
import { AimdPacer, DEFAULT_PACING, type PacingSpec } from './pacing.js';
import type { RetryQuota } from './retry-quota.js';
import type { CloudCallOutcome, IpamObserver, PacingState } from '../core/types.js';

export type ApiClass = 'describe' | 'addresses' | 'interfaces';

export type { BucketSpec };

/** Something every attempt waits for before it is sent (a limiter shared by several budgets). */
export interface CallGate {
  acquire(apiClass: ApiClass): Promise<void>;
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
  /** AIMD pacing per API class once the cloud throttles (pacing.ts). Default on; false turns it off. */
  pacing?: Partial<PacingSpec> | false;
  /** Throttled attempts of one call while paced, before it fails. Default 30. */
  maxPacedAttempts?: number;
  /** Awaited before every attempt. */
  gate?: CallGate;
  /** A retry takes from this quota and is not made when it is empty (the AWS SDK's standard mode). */
  retryQuota?: RetryQuota;
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

/** Waits until `bucket` has a token, then takes it. */
async function takeToken(bucket: TokenBucket, clock: Clock): Promise<void> {
  for (;;) {
    if (bucket.take(clock.now())) return;
    await clock.sleep(bucket.waitMs(clock.now()));
  }
}

/** Waits for the pacer's turn, then claims it. */
async function paceTurn(pacer: AimdPacer, clock: Clock): Promise<void> {
  for (let d = pacer.delayMs(clock.now()); d > 0; d = pacer.delayMs(clock.now())) await clock.sleep(d);
  pacer.sent(clock.now());
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
  private readonly pacers?: Record<ApiClass, AimdPacer>;
  private readonly maxPacedAttempts: number;
  private readonly gate?: CallGate;
  private readonly retryQuota?: RetryQuota;
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
    const now = this.clock.now();
    this.buckets = {
      describe: new TokenBucket(specs.describe, now),
      addresses: new TokenBucket(specs.addresses, now),
      interfaces: new TokenBucket(specs.interfaces, now),
    };
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 20_000;
    this.random = opts.random ?? Math.random;
    this.recentSize = opts.recentSize ?? 200;
    if (opts.pacing !== false) {
      const spec = { ...DEFAULT_PACING, ...opts.pacing };
      this.pacers = {
        describe: new AimdPacer(spec, this.random),
        addresses: new AimdPacer(spec, this.random),
        interfaces: new AimdPacer(spec, this.random),
      };
    }
    this.maxPacedAttempts = opts.maxPacedAttempts ?? 30;
    this.gate = opts.gate;
    this.retryQuota = opts.retryQuota;
  }

  /** Is an API class paced now (the cloud throttled it recently)? */
  paced(apiClass: ApiClass): boolean {
    const p = this.pacers?.[apiClass];
    return p !== undefined && p.rate(this.clock.now()) !== Infinity;
  }

  /** Every API class's pacing at `now` (empty when pacing is off): for metrics and introspection. */
  pacing(): PacingState[] {
    if (!this.pacers) return [];
    const now = this.clock.now();
    return (Object.entries(this.pacers) as [ApiClass, AimdPacer][]).map(([apiClass, p]) => ({
      apiClass,
      ...p.view(now),
    }));
  }

  /** The pacer of an API class (undefined when pacing is off): for introspection and tests. */
  pacer(apiClass: ApiClass): AimdPacer | undefined {
    return this.pacers?.[apiClass];
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
    const pacer = this.pacers?.[apiClass];
    let retried = false;
    for (let attempt = 1; ; attempt++) {
      if (pacer) await paceTurn(pacer, this.clock);
      await takeToken(this.buckets[apiClass], this.clock);
      if (this.gate) await this.gate.acquire(apiClass);
      const start = this.clock.now();
      try {
        const result = await this.queue.add(fn);
        this.record({ at: start, action, target, attempt, ms: this.clock.now() - start, outcome: 'ok' });
        this.retryQuota?.succeeded(retried);
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
        if (throttled) pacer?.throttled(this.clock.now());
        // Paced, a throttled call retries at its paced turn (the pacer spaces it), up to maxPacedAttempts.
        const paced = throttled && pacer !== undefined && pacer.rate(this.clock.now()) !== Infinity;
        const limit = paced ? Math.max(this.maxAttempts, this.maxPacedAttempts) : this.maxAttempts;
        if (!isRetryable(err) || attempt >= limit || this.closing) throw err;
        if (this.retryQuota && !this.retryQuota.take(throttled)) throw err;
        retried = true;
        this.totals.retries++;
        if (paced) continue;
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
