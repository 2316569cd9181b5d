// The central broker of the fleet bench: Cilium's operator model, where every cloud call of the cluster
// goes through one operator at a fixed rate (`--limit-ipam-api-qps`, default 4/s, burst 20: issue 14,
// cilium PR #21387). One FIFO queue over one token bucket, shared by every daemon's budget as its gate.
import type { Clock } from '../../../providers/clock.js';
import { TokenBucket } from '../../../providers/token-bucket.js';
import type { CallGate } from '../../../ipamd/cloud/budget.js';

export const BROKER_QPS = 4;
export const BROKER_BURST = 20;

export class CentralBroker implements CallGate {
  private readonly bucket: TokenBucket;
  private tail: Promise<void> = Promise.resolve();
  /** Calls let through so far. */
  granted = 0;

  constructor(
    private readonly clock: Clock,
    qps = BROKER_QPS,
    burst = BROKER_BURST,
  ) {
    this.bucket = new TokenBucket({ capacity: burst, refillPerSec: qps }, clock.now());
  }

  /** Resolves when this call's turn in the one queue has come and the bucket has a token. */
  acquire(): Promise<void> {
    const turn = this.tail.then(async () => {
      while (!this.bucket.take(this.clock.now()))
        await this.clock.sleep(this.bucket.waitMs(this.clock.now()));
      this.granted++;
    });
    this.tail = turn;
    return turn;
  }
}
