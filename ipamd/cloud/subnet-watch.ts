// What the daemon knows of its subnets' free addresses, for subnet scarcity mode (pool/scarcity-policy.ts):
// learned from the cloud only (DescribeSubnets, polled through the budget, and the cloud's own
// "subnet full" answers), per subnet. A subnet is scarce while its free addresses are under the
// threshold (TIDEPOOL_SUBNET_SCARCITY_PERCENT of its usable addresses), or would be gone within
// DRAIN_HORIZON_MS at the rate they fell between two answers (a whole fleet booting into one subnet
// drains it faster than any fixed share warns of); once seen scarce it stays so
// for SCARCE_HOLD_MS after the last such sighting, or until it has twice the threshold free, so that
// the addresses the mode hands back do not switch it off at once and start the drain again.

import { parseCidr } from '../../config/net.js';
import { SubnetFullError } from '../../providers/errors.js';
import type { Provider } from '../../providers/types.js';
import type { SubnetState } from '../core/types.js';
import type { CloudBudget } from './budget.js';
import { subnetScarce } from '../engine/scarcity-policy.js';

export const SCARCE_HOLD_MS = 300_000;
/** DescribeSubnets period at most, and while a subnet is scarce (or its drain is not known yet). */
export const SUBNET_POLL_MS = 300_000;
export const SUBNET_POLL_SCARCE_MS = 30_000;
/** The shortest period: while a subnet drains towards scarcity. */
export const SUBNET_POLL_MIN_MS = 10_000;
/** Scarce when the subnet's free addresses would last less than this at the observed drain rate. */
export const DRAIN_HORIZON_MS = 120_000;

interface SubnetSeen {
  /** The drain rate's base point: free addresses at `at` (an answer within a second keeps the older one). */
  free: number;
  usable: number;
  at: number;
  /** The last answer itself. */
  lastFree: number;
  lastAt: number;
  scarceAt?: number;
  /** Addresses per ms the subnet lost between two answers at least a second apart (EWMA, ≥ 0). */
  drainPerMs: number;
  /** Answers that gave a drain sample. */
  samples: number;
}

export class SubnetWatch {
  private readonly seen = new Map<string, SubnetSeen>();

  constructor(
    private readonly percent: number,
    private readonly holdMs = SCARCE_HOLD_MS,
  ) {}

  get enabled(): boolean {
    return this.percent > 0;
  }

  /**
   * When to ask the cloud again: soon while a subnet's drain is not known yet or it is scarce; while it
   * drains, at a quarter of the time it would take to become scarce (10 s to 5 min); else every 5 min.
   */
  nextPollMs(subnetIds: Iterable<string>, now: number): number {
    let ms = SUBNET_POLL_MS;
    for (const id of subnetIds) {
      const e = this.seen.get(id);
      if (!e || e.samples === 0 || this.scarce([id], now)) {
        ms = Math.min(ms, SUBNET_POLL_SCARCE_MS);
        continue;
      }
      if (e.drainPerMs <= 0) continue;
      const threshold = Math.max((e.usable * this.percent) / 100, e.drainPerMs * DRAIN_HORIZON_MS);
      const untilScarce = (e.free - threshold) / e.drainPerMs;
      ms = Math.min(ms, Math.max(SUBNET_POLL_MIN_MS, untilScarce / 4));
    }
    return ms;
  }

  /** `provider` with its listSubnets answers observed on the way (the same object otherwise). */
  observing(provider: Provider, now: () => number): Provider {
    if (!provider.listSubnets) return provider;
    return new Proxy(provider, {
      get: (target, prop) => {
        if (prop === 'listSubnets')
          return async () => {
            const subnets = await target.listSubnets!();
            this.observe(subnets, now());
            return subnets;
          };
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** A DescribeSubnets answer: free and usable addresses per subnet, at `now`. */
  observe(subnets: { id: string; cidr: string; freeAddresses: number }[], now: number): void {
    for (const s of subnets) {
      const usable = Math.max(0, parseCidr(s.cidr).size - 5);
      const prev = this.seen.get(s.id);
      let drainPerMs = prev?.drainPerMs ?? 0;
      let samples = prev?.samples ?? 0;
      let at = now;
      let free = s.freeAddresses;
      if (prev && now - prev.at < 1_000) {
        // Too close to the last answer for a rate: keep the last rate's base point.
        at = prev.at;
        free = prev.free;
      } else if (prev) {
        const sample = Math.max(0, (prev.free - s.freeAddresses) / (now - prev.at));
        drainPerMs = samples ? 0.5 * drainPerMs + 0.5 * sample : sample;
        samples++;
      }
      const e: SubnetSeen = {
        free,
        usable,
        at,
        lastFree: s.freeAddresses,
        lastAt: now,
        scarceAt: prev?.scarceAt,
        drainPerMs,
        samples,
      };
      const draining = drainPerMs > 0 && s.freeAddresses / drainPerMs < DRAIN_HORIZON_MS;
      if (subnetScarce(s.freeAddresses, usable, this.percent) || draining) e.scarceAt = now;
      else if (s.freeAddresses >= (2 * usable * this.percent) / 100) e.scarceAt = undefined;
      this.seen.set(s.id, e);
    }
  }

  /** The cloud answered that `subnetId` has no free address (or /28 block) left. */
  full(subnetId: string, now: number): void {
    const prev = this.seen.get(subnetId);
    this.seen.set(subnetId, {
      free: 0,
      usable: prev?.usable ?? 0,
      at: now,
      lastFree: 0,
      lastAt: now,
      scarceAt: now,
      drainPerMs: prev?.drainPerMs ?? 0,
      samples: prev?.samples ?? 0,
    });
  }

  /** Every subnet heard of, as last answered, and whether it is scarce at `now`. */
  view(now: number): SubnetState[] {
    return [...this.seen.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, e]) => ({
        id,
        free: e.lastFree,
        usable: e.usable,
        scarce: this.scarce([id], now),
        drainPerMin: e.drainPerMs * 60_000,
        seenAt: new Date(e.lastAt).toISOString(),
      }));
  }

  /** Is any of `subnetIds` scarce at `now`. */
  scarce(subnetIds: Iterable<string>, now: number): boolean {
    if (!this.enabled) return false;
    for (const id of subnetIds) {
      const e = this.seen.get(id);
      if (e?.scarceAt !== undefined && now - e.scarceAt <= this.holdMs) return true;
    }
    return false;
  }

  /** Polls DescribeSubnets through the budget; a failure leaves what was known. */
  async poll(provider: Provider, budget: CloudBudget, now: () => number): Promise<void> {
    if (!this.enabled || !provider.listSubnets) return;
    const subnets = await budget
      .run('DescribeSubnets', 'describe', () => provider.listSubnets!(), { coalesce: true })
      .catch(() => null);
    if (subnets) this.observe(subnets, now());
  }

  /** Notes a subnet-full error of a growth call (SubnetFullError carries no subnet: the caller's). */
  noteError(err: unknown, subnetIds: string[], now: number): void {
    if (err instanceof SubnetFullError) for (const id of subnetIds) this.full(id, now);
  }
}
