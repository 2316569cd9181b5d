// One JSON request over a Unix socket (HTTP/1.1), as the lab talks to the clouds it runs (the sim server, the
// Azure doubles' control API): the parsed answer, or an error naming the call and what the server said.

import { request } from 'node:http';

export class UnixJsonError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'UnixJsonError';
  }
}

export interface UnixJsonOptions {
  /** Names the server in errors, e.g. "sim". */
  server: string;
  /** The message of a server's error answer (its JSON body), when it has one. */
  errorMessage: (body: any) => string | undefined;
  timeoutMs?: number;
}

export function unixJson<T = any>(
  socketPath: string,
  method: string,
  path: string,
  body: unknown,
  o: UnixJsonOptions,
): Promise<T> {
  const what = `${o.server} ${method} ${path}`;
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: text
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }
          : {},
        timeout: o.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = out ? JSON.parse(out) : undefined;
          } catch {
            return reject(
              new UnixJsonError(res.statusCode ?? 500, `${what}: not JSON: ${out.slice(0, 100)}`),
            );
          }
          const status = res.statusCode ?? 500;
          if (status >= 300) reject(new UnixJsonError(status, `${what}: ${o.errorMessage(json) ?? out}`));
          else resolve(json as T);
        });
        res.on('error', reject);
      },
    );
    if (o.timeoutMs)
      req.on('timeout', () => req.destroy(new Error(`${what}: no answer in ${o.timeoutMs! / 1000} s`)));
    req.on('error', reject);
    req.end(text);
  });
}

/** Calls `call` every pollMs until it succeeds; after timeoutMs throws what `fail` makes of the last error. */
export async function untilAnswers(
  call: () => Promise<unknown>,
  timeoutMs: number,
  pollMs: number,
  fail: (last: Error) => Error,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await call();
      return;
    } catch (e) {
      if (Date.now() > end) throw fail(e as Error);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}
