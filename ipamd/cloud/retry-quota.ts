// The AWS SDK's client-side retry quota (standard retry mode), for the incumbent comparison: a bucket of
// 500 tokens per client; a retry after a throttle or a transient error costs 5 (a timeout 10, not
// modelled apart); a call that succeeds without a retry gives 1 back; when the quota cannot pay, the
// error is returned without a retry. Figures: cloud-api-figures.md 1.4, smithy-typescript util-retry
// constants [doc].

export const SDK_RETRY_QUOTA = { capacity: 500, retryCost: 5, noRetryIncrement: 1 };

export class RetryQuota {
  private tokens: number;

  constructor(private readonly spec = SDK_RETRY_QUOTA) {
    this.tokens = spec.capacity;
  }

  get available(): number {
    return this.tokens;
  }

  /** Pays for one retry; false when the quota is too low (the error goes back to the caller). */
  take(_throttled: boolean): boolean {
    if (this.tokens < this.spec.retryCost) return false;
    this.tokens -= this.spec.retryCost;
    return true;
  }

  /** A call succeeded: without a retry it refunds a little, after retries it returns their cost. */
  succeeded(retried: boolean): void {
    const back = retried ? this.spec.retryCost : this.spec.noRetryIncrement;
    this.tokens = Math.min(this.spec.capacity, this.tokens + back);
  }
}
