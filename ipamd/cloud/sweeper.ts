// The leaked-interface sweeper: the last safety net for interfaces that escape the intent journal (a
// crash repair that failed, an interface created by an older daemon, an operator's half-finished
// cleanup). Leaked ENIs block VPC and security-group deletion — a long-standing complaint about the
// incumbent (reference aws-vpc-cni.md sections 4.3 and 8). As the incumbent: first run after a random
// delay of up to 5 minutes (so a fleet of new nodes does not sweep in step), then hourly; only interfaces
// tagged for this node or cluster, unattached, and older than 5 minutes (eniDeleteCooldownTime). The
// provider's sweepLeakedInterfaces() does the tag scoping and the age gate; its calls go through the
// daemon's one budget, so a sweep never competes unthrottled with pod allocations.
import type { Clock } from '../../providers/clock.js';
import type { Provider } from '../../providers/types.js';
import type { CloudBudget } from './budget.js';

export interface SweeperOptions {
  provider: Provider;
  budget: CloudBudget;
  clock: Clock;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  /** Minimum age of an unattached interface before it is deleted. */
  minAgeMs?: number;
  periodMs?: number;
  /** Delay before the first sweep; default a random 0–5 minutes. */
  firstDelayMs?: number;
}

export const SWEEP_MIN_AGE_MS = 5 * 60_000;
export const SWEEP_PERIOD_MS = 60 * 60_000;

export class LeakSweeper {
  private stopping = false;
  private wake?: () => void;
  private done?: Promise<void>;
  /** Interfaces deleted since start, for metrics and tests. */
  deleted = 0;

  constructor(private readonly o: SweeperOptions) {}

  start(): void {
    if (!this.o.provider.sweepLeakedInterfaces || this.done) return;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.done;
  }

  /** One sweep; failures are logged and retried at the next period, never thrown. */
  async sweepOnce(): Promise<string[]> {
    const minAgeMs = this.o.minAgeMs ?? SWEEP_MIN_AGE_MS;
    try {
      const ids = await this.o.budget.run('SweepLeakedInterfaces', 'interfaces', () =>
        this.o.provider.sweepLeakedInterfaces!(minAgeMs),
      );
      this.deleted += ids.length;
      if (ids.length) this.o.log.info({ interfaces: ids }, 'deleted leaked interfaces');
      return ids;
    } catch (err) {
      this.o.log.warn({ err: String(err) }, 'leaked-interface sweep failed; retrying next period');
      return [];
    }
  }

  private async loop(): Promise<void> {
    let delay = this.o.firstDelayMs ?? Math.floor(Math.random() * 5 * 60_000);
    while (!this.stopping) {
      await Promise.race([this.o.clock.sleep(delay), new Promise<void>((r) => (this.wake = r))]);
      if (this.stopping) return;
      await this.sweepOnce();
      delay = this.o.periodMs ?? SWEEP_PERIOD_MS;
    }
  }
}
