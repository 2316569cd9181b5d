// IMDSv2 client (reference aws-vpc-cni.md 4.5, cloud-api-figures.md 3). Session-token flow: PUT
// /latest/api/token with a TTL header, then every GET carries X-aws-ec2-metadata-token. A token is
// reused until shortly before it expires and fetched again on a 401 (IMDS restarted, clock skew).
//
// Hop-limit awareness: when the instance's HttpPutResponseHopLimit is 1 and the daemon runs behind one
// more hop (a container network namespace), the PUT's response is dropped on the way back and the
// request simply times out. That timeout is reported as such, naming the setting to raise, instead of
// a bare "fetch failed".

export class ImdsError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ImdsError';
  }
}

export interface ImdsOptions {
  /** Base URL, e.g. http://169.254.169.254 (TIDEPOOL_IMDS_ENDPOINT). */
  endpoint: string;
  /** Token TTL asked for; AWS allows at most 21600 s. */
  tokenTtlSeconds?: number;
  /** Per-request timeout. The AWS SDKs use 1 s for IMDS. */
  timeoutMs?: number;
  /** Attempts per GET on a 5xx or a connection error (the token PUT is not retried on a timeout). */
  attempts?: number;
  /** Allow IMDSv1 when the endpoint has no token API (404/405 on the PUT). Off by default. */
  allowV1Fallback?: boolean;
  fetch?: typeof fetch;
  now?: () => number;
}

const TOKEN_PATH = '/latest/api/token';
const MAX_TTL = 21600;

export class ImdsClient {
  private token: { value: string; expiresAt: number } | null = null;
  private v1 = false;
  private readonly endpoint: string;
  private readonly ttl: number;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  /** Requests sent (token PUTs and GETs), for tests and benchmarks. */
  requests = 0;

  constructor(private readonly opts: ImdsOptions) {
    this.endpoint = opts.endpoint.replace(/\/+$/, '');
    this.ttl = Math.min(Math.max(opts.tokenTtlSeconds ?? MAX_TTL, 1), MAX_TTL);
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.attempts = Math.max(1, opts.attempts ?? 3);
    this.fetchFn = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
  }

  /** GET a metadata path (relative to the endpoint, e.g. "/latest/meta-data/instance-id"); null on 404. */
  async get(path: string): Promise<string | null> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      try {
        const res = await this.send(path, false);
        if (res.status === 401 && !this.v1) {
          // Token no longer valid (IMDS restarted or TTL passed early): one fresh token, then a final answer.
          this.token = null;
          const again = await this.send(path, false);
          return await this.answer(path, again);
        }
        return await this.answer(path, res);
      } catch (err) {
        lastErr = err;
        if (err instanceof ImdsError && err.status !== undefined && err.status < 500) throw err;
        if (attempt + 1 < this.attempts) await sleep(50 * 2 ** attempt);
      }
    }
    throw lastErr;
  }

  /** GET that must exist. */
  async require(path: string): Promise<string> {
    const v = await this.get(path);
    if (v === null) throw new ImdsError(`instance metadata ${path} not found (404)`, path, 404);
    return v;
  }

  private async answer(path: string, res: Response): Promise<string | null> {
    const body = await res.text();
    if (res.status === 404) return null;
    if (res.status === 200) return body;
    throw new ImdsError(
      `instance metadata GET ${path}: HTTP ${res.status} ${body.slice(0, 200)}`,
      path,
      res.status,
    );
  }

  private async send(path: string, isRetry: boolean): Promise<Response> {
    const headers: Record<string, string> = {};
    const token = await this.sessionToken();
    if (token) headers['x-aws-ec2-metadata-token'] = token;
    this.requests++;
    try {
      return await this.fetchFn(this.endpoint + path, {
        headers,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ImdsError(
        `instance metadata GET ${path} failed: ${describe(err)}${isRetry ? ' (retry)' : ''}`,
        path,
      );
    }
  }

  private async sessionToken(): Promise<string | null> {
    if (this.v1) return null;
    // Renew a minute before expiry (or at half the TTL for short test TTLs).
    const margin = Math.min(60_000, (this.ttl * 1000) / 2);
    if (this.token && this.now() < this.token.expiresAt - margin) return this.token.value;
    this.requests++;
    let res: Response;
    try {
      res = await this.fetchFn(this.endpoint + TOKEN_PATH, {
        method: 'PUT',
        headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(this.ttl) },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      if (isTimeout(err))
        throw new ImdsError(
          `IMDSv2 token request to ${this.endpoint} timed out after ${this.timeoutMs} ms. If the daemon runs in a ` +
            `container or behind another network hop, the instance's metadata hop limit (HttpPutResponseHopLimit) ` +
            `must be at least 2: aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2`,
          TOKEN_PATH,
          408, // not retried: a dropped PUT response does not come back by asking again
        );
      throw new ImdsError(`IMDSv2 token request to ${this.endpoint} failed: ${describe(err)}`, TOKEN_PATH);
    }
    const body = await res.text();
    if (res.status === 200 && body) {
      this.token = { value: body.trim(), expiresAt: this.now() + this.ttl * 1000 };
      return this.token.value;
    }
    if ((res.status === 404 || res.status === 405) && this.opts.allowV1Fallback) {
      this.v1 = true;
      return null;
    }
    if (res.status === 403)
      throw new ImdsError(
        'IMDSv2 token request refused (403): instance metadata is disabled on this instance',
        TOKEN_PATH,
        403,
      );
    throw new ImdsError(
      `IMDSv2 token request: HTTP ${res.status} ${body.slice(0, 200)}`,
      TOKEN_PATH,
      res.status,
    );
  }
}

function isTimeout(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return [e?.message, e?.cause?.code ?? e?.cause?.message].filter(Boolean).join(': ') || String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
