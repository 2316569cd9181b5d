// A lean unary gRPC server on our own HTTP/2 (h2-server.ts), in place of @grpc/grpc-js: the daemon serves
// only unary calls to local clients, and grpc-js's generic machinery (filters, channelz, call objects,
// metadata) was half of the daemon's CPU per call in a profile of the daemon bench; node:http2 under it was
// most of the rest, and of the garbage. It speaks the gRPC-over-HTTP/2 wire protocol
// (github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): a POST to /<service>/<method> with content-type
// application/grpc[+proto], one message prefixed by a compressed flag and a 4-byte length; the answer is
// :status 200 + content-type, the message, then the trailers grpc-status and grpc-message (percent-encoded).
// Errors are trailers-only responses. grpc-timeout is honoured; compression is not offered.
import { H2Server, type H2Stream } from './h2-server.js';
import { hpackEncode } from '../proto/hpack.js';

/** The gRPC status codes this server answers with. */
export const Code = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** A handler's failure with the status to answer (other errors are mapped by the server's `toStatus`). */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcError';
  }
}

export type UnaryHandler = (request: Buffer) => Promise<Uint8Array>;

export interface UnaryServerOptions {
  /** Handlers by path, "/<service>/<method>". */
  routes: Map<string, UnaryHandler>;
  /** The status and message for an error a handler threw. */
  toStatus: (err: unknown) => { code: number; message: string };
  /** Called once per call with its path, status code and duration. */
  onCall?: (path: string, code: number, ms: number) => void;
}

/** grpc's own default: a larger request is refused before it is buffered. */
const MAX_MESSAGE = 4 * 1024 * 1024;
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** grpc-message: bytes outside printable ASCII, and '%', percent-encoded (the spec's rule, not a URI's). */
export function percentEncode(s: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(s)) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8'))
    out +=
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** grpc-timeout ("<1-8 digits><H|M|S|m|u|n>") in milliseconds, or null when absent or malformed. */
export function parseTimeout(value: string | undefined): number | null {
  const m = value === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(value);
  return m ? Number(m[1]) * TIMEOUT_UNIT_MS[m[2]] : null;
}

/** The header blocks of every successful answer, encoded once. */
const OK_HEADERS = hpackEncode([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
const OK_TRAILERS = hpackEncode([
  ['grpc-status', '0'],
  ['grpc-message', ''],
]);

export class UnaryGrpcServer {
  private readonly server: H2Server;

  constructor(private readonly opts: UnaryServerOptions) {
    this.server = new H2Server({ maxBody: MAX_MESSAGE + 5, onStream: (stream) => this.onStream(stream) });
  }

  listen(path: string): Promise<void> {
    return this.server.listen(path);
  }

  /**
   * Stops accepting connections, sends GOAWAY on the open ones so calls in flight finish and no new one
   * starts, and destroys what is still open after graceMs.
   */
  shutdown(graceMs: number): Promise<{ forced: boolean }> {
    return this.server.shutdown(graceMs);
  }

  private onStream(stream: H2Stream): void {
    const started = performance.now();
    const headers = stream.headers;
    const path = headers.get(':path') ?? '';
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (code: number, message: string, body?: Uint8Array) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.opts.onCall?.(path, code, performance.now() - started);
      if (stream.closed) return;
      if (body) {
        const frame = Buffer.allocUnsafe(5 + body.length);
        frame[0] = 0;
        frame.writeUInt32BE(body.length, 1);
        frame.set(body, 5);
        stream.respond(OK_HEADERS, frame, OK_TRAILERS);
      } else {
        // Trailers-only: the status travels in the one HEADERS frame that ends the stream.
        stream.respondHeadersOnly([
          [':status', '200'],
          ['content-type', 'application/grpc'],
          ['grpc-status', String(code)],
          ['grpc-message', percentEncode(message)],
        ]);
      }
    };
    stream.onAbort = () => clearTimeout(timer); // reset by the client: nothing left to answer

    if (headers.get(':method') !== 'POST') {
      done = true;
      stream.respondHeadersOnly([
        [':status', '405'],
        ['allow', 'POST'],
      ]);
      return;
    }
    const type = headers.get('content-type') ?? '';
    if (!/^application\/grpc(\+proto)?(;|$)/.test(type)) {
      done = true;
      stream.respondHeadersOnly([[':status', '415']]);
      return;
    }
    const handler = this.opts.routes.get(path);
    if (!handler) return finish(Code.UNIMPLEMENTED, `unknown method ${path}`);
    const encoding = headers.get('grpc-encoding');
    if (encoding !== undefined && encoding !== 'identity')
      return finish(Code.UNIMPLEMENTED, `grpc-encoding ${encoding} is not supported (identity only)`);
    const timeoutMs = parseTimeout(headers.get('grpc-timeout'));
    if (timeoutMs !== null)
      timer = setTimeout(() => finish(Code.DEADLINE_EXCEEDED, 'deadline exceeded'), Math.max(0, timeoutMs));

    stream.onOverflow = () => finish(Code.RESOURCE_EXHAUSTED, `request larger than ${MAX_MESSAGE} bytes`);
    stream.onEnd = (data) => {
      if (done) return;
      if (data.length < 5 || data.readUInt32BE(1) !== data.length - 5)
        return finish(Code.INTERNAL, `a unary request must carry exactly one message (${data.length} bytes)`);
      if (data[0] !== 0)
        return finish(
          Code.INTERNAL,
          'compressed message without a supported grpc-encoding (this server accepts identity only)',
        );
      handler(data.subarray(5)).then(
        (res) => finish(Code.OK, '', res),
        (err: unknown) => {
          const { code, message } = this.opts.toStatus(err);
          finish(code, message);
        },
      );
    };
  }
}
