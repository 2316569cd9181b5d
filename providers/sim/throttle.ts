// EC2's request rate limiting: one token bucket per action, per account and Region (cloud-api-figures.md
// section 1.1 [doc]); a call that finds its bucket empty fails with RequestLimitExceeded. The bucket is
// the project's one implementation (providers/token-bucket.ts), shared with the daemon's budget.

export { TokenBucket, type BucketState } from '../token-bucket.js';
