// A lean unary gRPC client over the daemon's Unix socket: loading @grpc/grpc-js would cost the plugin
// ~35 ms of start-up per pod, node:http2 ~20 ms of CPU; it runs on cni/http2 (a minimal HTTP/2 client over
// node:net, cni/sys/unix-socket.ts). Messages are encoded and decoded only through proto/ (codec.ts, on the
// code generated from tidepool.proto). It speaks the gRPC-over-HTTP/2 wire protocol (a POST to /<service>/<method>, content-type
// application/grpc, each message prefixed by a compression flag and a 4-byte length; the status in the
// grpc-status/grpc-message trailers).
import { decode, encode } from '../proto/codec.js';
import { HEALTH_SERVICE, methods, schemas, SERVICE, type MethodName } from '../proto/messages.js';
import type * as msg from '../proto/messages.js';
import { hpackEncode } from './http2/hpack.js';
import { ConnectionError, Http2Connection, type Response } from './http2/connection.js';

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
  private connection: Promise<Http2Connection> | null = null;
  /** Request header blocks by path and deadline: a long-lived client encodes each once. */
  private readonly headerBlocks = new Map<string, Buffer>();

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
    void this.connection?.then((c) => c.close());
    this.connection = null;
  }

  private connect(): Promise<Http2Connection> {
    this.connection ??= Http2Connection.open(this.socketPath);
    return this.connection;
  }

  private async unary(path: string, message: Uint8Array, deadlineMs: number): Promise<Uint8Array> {
    const connection = await this.connect();
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0; // not compressed
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    const blockKey = `${path} ${deadlineMs}`;
    let block = this.headerBlocks.get(blockKey);
    if (!block) {
      block = hpackEncode([
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', path],
        [':authority', 'localhost'],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
        ['grpc-timeout', `${deadlineMs}m`],
      ]);
      this.headerBlocks.set(blockKey, block);
    }
    const { id, response } = connection.request(block, frame);
    const exceeded = () => {
      connection.cancel(id);
      return new DeadlineExceededError(path.slice(path.lastIndexOf('/') + 1), deadlineMs);
    };
    let timer: NodeJS.Timeout | undefined;
    let res: Response;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(exceeded()), deadlineMs);
      });
      res = await Promise.race([response, deadline]);
    } catch (err) {
      if (err instanceof ConnectionError) throw new DaemonUnreachableError(this.socketPath, err.reason);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    const status = res.trailers.get('grpc-status');
    if (status === undefined)
      throw new GrpcStatusError(
        13,
        `no grpc-status in the answer (HTTP status ${res.headers.get(':status') ?? '?'})`,
      );
    if (status !== '0')
      throw new GrpcStatusError(Number(status), decodeURIComponent(res.trailers.get('grpc-message') ?? ''));
    const data = res.data;
    if (data.length < 5 || data.readUInt32BE(1) !== data.length - 5)
      throw new GrpcStatusError(13, `malformed response frame of ${data.length} bytes`);
    if (data[0] !== 0) throw new GrpcStatusError(12, 'compressed responses are not supported');
    return data.subarray(5);
  }
}
