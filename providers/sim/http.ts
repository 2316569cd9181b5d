// A lean JSON-over-HTTP client for the sim server's Unix socket: node:http with one keep-alive Agent, no
// dependencies. Server errors come back as the typed errors of providers/errors.ts; a socket that cannot
// be reached is a TransientError, so a daemon's budget retries while the sim restarts.

import { Agent, request } from 'node:http';
import {
  CloudError,
  InUseError,
  LimitExceededError,
  NotFoundError,
  SubnetFullError,
  ThrottledError,
  TransientError,
  UnauthorizedError,
  UnsupportedError,
} from '../errors.js';

const ERROR_TYPES: Record<string, new (message: string, code: string, action: string) => CloudError> = {
  CloudError,
  ThrottledError,
  TransientError,
  SubnetFullError,
  LimitExceededError,
  UnauthorizedError,
  NotFoundError,
  UnsupportedError,
  InUseError,
};

/** An answer of the server that is not a cloud error (bad request, unknown route, instance exists). */
export class SimRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SimRequestError';
  }
}

export class SimHttp {
  readonly agent: Agent;

  private readonly timeoutMs: number;

  constructor(
    readonly socketPath: string,
    opts: { maxSockets?: number; timeoutMs?: number } = {},
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 64 });
    // Longer than any sim latency (the realistic tail is 3 s); a stopped server must not hang a caller.
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  request<T>(method: string, path: string, body?: unknown, action = path): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          agent: this.agent,
          method,
          path,
          headers: payload
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : undefined,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(connectionError(err, action, this.socketPath)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              reject(
                new TransientError(
                  `sim: unreadable reply to ${action}: ${text.slice(0, 200)}`,
                  'InternalError',
                  action,
                ),
              );
              return;
            }
            const status = res.statusCode ?? 500;
            if (status < 400) resolve(parsed as T);
            else reject(toError(status, parsed, action));
          });
        },
      );
      req.on('error', (err) => reject(connectionError(err, action, this.socketPath)));
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(Object.assign(new Error('no reply'), { code: 'RequestTimeout' }));
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function toError(status: number, parsed: unknown, action: string): Error {
  const e = (parsed as { error?: { type?: string; code?: string; action?: string; message?: string } })
    ?.error;
  const message = e?.message ?? `sim: HTTP ${status} for ${action}`;
  const Ctor = e?.type ? ERROR_TYPES[e.type] : undefined;
  if (Ctor) return new Ctor(message, e?.code ?? 'Unknown', e?.action || action);
  if (status >= 500) return new TransientError(message, e?.code ?? 'InternalError', action);
  return new SimRequestError(status, e?.code ?? 'InvalidRequest', message);
}

function connectionError(err: Error, action: string, socketPath: string): TransientError {
  const code = (err as NodeJS.ErrnoException).code ?? 'ConnectionError';
  return new TransientError(
    `sim: cannot reach the sim server at ${socketPath} (${code}) for ${action}`,
    code,
    action,
  );
}
