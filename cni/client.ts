// A lean unary gRPC client over the daemon's Unix socket, with node:http2 alone: loading @grpc/grpc-js
// would cost the plugin ~35 ms of start-up per pod. It speaks the gRPC-over-HTTP/2 wire protocol (a POST
// to /<service>/<method>, content-type application/grpc, each message prefixed by a compression flag and a
// 4-byte length; the status in the grpc-status/grpc-message trailers) with the hand codec of proto/.
import type { ClientHttp2Session } from 'node:http2';
import { decode, encode } from '../proto/codec.js';
import { HEALTH_SERVICE, methods, schemas, SERVICE, type MethodName } from '../proto/messages.js';
import type * as msg from '../proto/messages.js';

/** The daemon answered with a non-OK gRPC status. */
export class GrpcStatusError extends Error {
  constructor(
    readonly status: number,
    readonly details: string,
  ) {
    super(`daemon answered gRPC status ${status}: ${details}`);
    this.name = 'GrpcStatusError';
  }
}
/** Nothing answered on the socket (absent, refused, no permission) or the connection broke. */
export class DaemonUnreachableError extends Error {
  constructor(socket: string, cause: string) {
    super(`tidepool daemon not reachable at ${socket}: ${cause}`);
    this.name = 'DaemonUnreachableError';
  }
}
export class DeadlineExceededError extends Error {
  constructor(method: string, ms: number) {
    super(`daemon call ${method} exceeded its ${ms} ms deadline`);
    this.name = 'DeadlineExceededError';
  }
}

export const GrpcStatus = { OK: 0, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14 } as const;

interface Responses {
  Allocate: msg.AllocateResponse;
  Release: msg.ReleaseResponse;
  Check: msg.CheckResponse;
  Gc: msg.GcResponse;
  Status: msg.StatusResponse;
}
interface Requests {
  Allocate: msg.AllocateRequest;
  Release: msg.ReleaseRequest;
  Check: msg.CheckRequest;
  Gc: msg.GcRequest;
  Status: msg.StatusRequest;
}

export class DaemonClient {
  private session: ClientHttp2Session | null = null;
  private sessionError: Error | null = null;

  constructor(readonly socketPath: string) {}

  async call<M extends MethodName>(method: M, req: Requests[M], deadlineMs: number): Promise<Responses[M]> {
    const body = await this.unary(`/${SERVICE}/${method}`, encode(methods[method].request, req), deadlineMs);
    return decode<Responses[M]>(methods[method].response, body);
  }

  /** grpc.health.v1 Check of the Ipam service: 1 SERVING, 2 NOT_SERVING. */
  async health(deadlineMs: number): Promise<number> {
    const body = await this.unary(
      `/${HEALTH_SERVICE}/Check`,
      encode(schemas.HealthCheckRequest, { service: SERVICE }),
      deadlineMs,
    );
    return decode<{ status: number }>(schemas.HealthCheckResponse, body).status;
  }

  close(): void {
    this.session?.close();
    this.session = null;
  }

  private async connect(): Promise<ClientHttp2Session> {
    if (this.session && !this.session.destroyed && !this.sessionError) return this.session;
    // Loaded on first use: VERSION and most bad-input answers never pay for http2.
    const [http2, net] = await Promise.all([import('node:http2'), import('node:net')]);
    this.sessionError = null;
    const session = http2.connect('http://localhost', {
      createConnection: () => {
        const socket = net.connect(this.socketPath);
        // Registered before http2's own listener: keeps the errno (ENOENT, ECONNREFUSED) the stream loses.
        socket.on('error', (err) => (this.sessionError ??= err));
        return socket;
      },
    });
    session.on('error', (err) => (this.sessionError = err));
    this.session = session;
    return session;
  }

  private async unary(path: string, message: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
    const session = await this.connect();
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0; // not compressed
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    return new Promise<Uint8Array>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let details = '';
      let settled = false;
      const finish = (err: Error | null, value?: Uint8Array) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value!);
      };
      const req = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${deadlineMs}m`,
      });
      const timer = setTimeout(() => {
        req.close(8 /* NGHTTP2_CANCEL */);
        finish(new DeadlineExceededError(path.slice(path.lastIndexOf('/') + 1), deadlineMs));
      }, deadlineMs);
      const takeStatus = (headers: Record<string, unknown>) => {
        if (headers['grpc-status'] !== undefined) {
          status = String(headers['grpc-status']);
          details = decodeURIComponent(String(headers['grpc-message'] ?? ''));
        }
      };
      req.on('response', (headers) => takeStatus(headers)); // a trailers-only answer carries the status here
      req.on('trailers', (headers) => takeStatus(headers));
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const cause = (this.sessionError as NodeJS.ErrnoException | null) ?? err;
        finish(new DaemonUnreachableError(this.socketPath, cause.code ?? cause.message));
      });
      req.on('close', () => {
        if (status === undefined) {
          const cause = this.sessionError as NodeJS.ErrnoException | null;
          return finish(
            new DaemonUnreachableError(
              this.socketPath,
              cause?.code ?? cause?.message ?? 'stream closed without a status',
            ),
          );
        }
        if (status !== '0') return finish(new GrpcStatusError(Number(status), details));
        const data = Buffer.concat(chunks);
        if (data.length < 5 || data.readUInt32BE(1) !== data.length - 5)
          return finish(new GrpcStatusError(13, `malformed response frame of ${data.length} bytes`));
        if (data[0] !== 0) return finish(new GrpcStatusError(12, 'compressed responses are not supported'));
        finish(null, data.subarray(5));
      });
      req.end(frame);
    });
  }
}
