// The one EC2 client every call goes through: endpoint override (LocalStack, a fault proxy), no SDK retries
// (maxAttempts 1 — the daemon's budget owns backoff, so a throttled call is retried once, by one policy, with
// the budget's jitter; the SDK's own 3 attempts would multiply under it), error translation, call counting
// and an observer hook for metrics.
import { EC2Client } from '@aws-sdk/client-ec2';
import { UnauthorizedError, type CloudError } from '../errors.js';
import { toCloudError } from './errors.js';

export interface ProviderLog {
  debug?(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLog: ProviderLog = { info: () => {}, warn: () => {}, error: () => {} };

export type CallOutcome = 'ok' | 'throttled' | 'error';
export type CallObserver = (action: string, ms: number, outcome: CallOutcome, error?: string) => void;

export interface Ec2Options {
  region: string;
  /** AWS_EC2_ENDPOINT / AWS_ENDPOINT_URL_EC2; empty = the SDK's regional endpoint. */
  endpoint?: string;
  /** Per-request timeout (socket), so a hung connection becomes a TransientError. */
  requestTimeoutMs?: number;
  log?: ProviderLog;
  observer?: CallObserver;
  /** Tests: a prebuilt client. */
  client?: EC2Client;
}

export class Ec2 {
  readonly client: EC2Client;
  /** Calls sent, by action (every attempt counts: this is what EC2 bills against the account's buckets). */
  readonly calls = new Map<string, number>();
  /** Requests on the wire right now (tests driving a virtual clock slow it down while this is > 0). */
  pending = 0;
  private readonly reportedUnauthorized = new Set<string>();
  private readonly log: ProviderLog;

  constructor(private readonly opts: Ec2Options) {
    this.log = opts.log ?? silentLog;
    this.client = opts.client ?? makeClient(opts);
  }

  get totalCalls(): number {
    let n = 0;
    for (const v of this.calls.values()) n += v;
    return n;
  }

  /** Sends one command; throws a typed CloudError. `action` is passed explicitly because bundlers rename classes. */
  async send<T>(action: string, command: object): Promise<T> {
    this.calls.set(action, (this.calls.get(action) ?? 0) + 1);
    const t0 = Date.now();
    this.pending++;
    try {
      // The SDK's send is overloaded per command; this wrapper is generic over all of them.
      const out = (await (this.client.send as (c: unknown) => Promise<unknown>)(command)) as T;
      this.opts.observer?.(action, Date.now() - t0, 'ok');
      return out;
    } catch (raw) {
      const err: CloudError = toCloudError(raw, action);
      const throttled = err.name === 'ThrottledError';
      this.opts.observer?.(action, Date.now() - t0, throttled ? 'throttled' : 'error', err.code);
      if (err instanceof UnauthorizedError && !this.reportedUnauthorized.has(action)) {
        this.reportedUnauthorized.add(action);
        this.log.error({ action, code: err.code, permission: `ec2:${action}` }, err.message);
      }
      throw err;
    } finally {
      this.pending--;
    }
  }
}

function makeClient(opts: Ec2Options): EC2Client {
  const endpoint = opts.endpoint || undefined;
  // Against an emulator, never let the SDK's default chain go looking for credentials on the real
  // instance metadata address: use the emulator's conventional static keys unless the caller set some.
  const staticCreds =
    endpoint && !process.env.AWS_ACCESS_KEY_ID
      ? { credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }
      : {};
  return new EC2Client({
    region: opts.region,
    endpoint,
    maxAttempts: 1,
    ...staticCreds,
    requestHandler: { requestTimeout: opts.requestTimeoutMs ?? 10_000, connectionTimeout: 3_000 },
  });
}
