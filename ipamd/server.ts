// The daemon's gRPC server on a Unix socket (mode 0600): tidepool.v1.Ipam for the CNI plugin and
// grpc.health.v1.Health for probes. It validates every request (INVALID_ARGUMENT naming the field), calls
// the core through the Ipam facade, and maps the core's typed errors to gRPC status codes. The transport is
// the lean unary server of grpc-unary.ts (wire-compatible with any gRPC client, grpc-js's included).
import { DecodeError, decode, encode, type Schema } from '../proto/codec.js';
import { HEALTH_SERVICE, SERVICE, methods, schemas, type MethodName } from '../proto/messages.js';
import type * as msg from '../proto/messages.js';
import {
  InvalidRequestError,
  validateAllocate,
  validateCheck,
  validateGc,
  validateRelease,
} from './requests.js';
import { checkHealth, servingStatus, type HealthSource } from './health.js';
import { Code, UnaryGrpcServer, type UnaryHandler } from './grpc-unary.js';
import { ServingStatus } from './service.js';
import { prepareSocketPath, restrictSocket, removeSocket } from './socket.js';
import {
  NodeFullError,
  PoolEmptyError,
  PoolWaitTimeoutError,
  ShuttingDownError,
  type Allocation,
  type Ipam,
} from './types.js';
import type { Logger } from './log.js';

export interface ServerOptions {
  ipam: Ipam;
  logger: Logger;
  /** POD_MTU, returned with every allocation. */
  podMtu: number;
  /** The VPC's CIDRs, returned with every allocation (known once the provider described the node). */
  vpcCidrs: () => string[];
  /** Called after every call with its method, gRPC status code and duration, for metrics. */
  onCall?: (method: string, code: number, ms: number) => void;
  /** The node's network readiness (ipamd/kube/readiness.ts), answered by Status (CNI STATUS). */
  networkStatus?: () => { ready: boolean; message: string };
}

/** Maps an error thrown by validation or the core to the gRPC status the plugin acts on. */
export function toServiceError(err: unknown): { code: number; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  let code: number = Code.INTERNAL;
  if (err instanceof InvalidRequestError) code = Code.INVALID_ARGUMENT;
  else if (err instanceof NodeFullError || err instanceof PoolEmptyError) code = Code.RESOURCE_EXHAUSTED;
  else if (err instanceof PoolWaitTimeoutError || err instanceof ShuttingDownError) code = Code.UNAVAILABLE;
  else if (err && typeof (err as { grpcCode?: unknown }).grpcCode === 'number')
    code = (err as { grpcCode: number }).grpcCode;
  return { code, message };
}

/** The request as the codec decoded it, or the field whose wire type did not match the contract. */
function decodeRequest<T>(schema: Schema, buf: Buffer): T {
  let value: Record<string, unknown>;
  try {
    value = decode<Record<string, unknown>>(schema, buf);
  } catch (err) {
    throw new InvalidRequestError(
      'request',
      `is not a valid protobuf message (${(err as DecodeError).message})`,
    );
  }
  for (const [name, spec] of Object.entries(schema)) {
    const v = value[name];
    const ok = spec.repeated
      ? Array.isArray(v) &&
        v.every((x) => (spec.type === 'message' ? typeof x === 'object' : typeof x === 'string'))
      : spec.type === 'string'
        ? typeof v === 'string'
        : spec.type === 'uint32'
          ? typeof v === 'number'
          : spec.type === 'bool'
            ? typeof v === 'boolean'
            : true;
    if (!ok) throw new InvalidRequestError(snake(name), `has the wrong wire type for ${spec.type}`);
  }
  return value as T;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export class IpamServer {
  private readonly server: UnaryGrpcServer;
  private socketPath: string | null = null;
  private shuttingDown = false;
  private readonly ipam: Ipam;

  constructor(private readonly opts: ServerOptions) {
    this.ipam = opts.ipam;
    const handlers: Record<MethodName, (buf: Buffer) => Promise<object> | object> = {
      Allocate: (b) => this.allocate(decodeRequest(schemas.AllocateRequest, b)),
      Release: (b) => this.release(decodeRequest(schemas.ReleaseRequest, b)),
      Check: (b) => this.check(decodeRequest(schemas.CheckRequest, b)),
      Gc: (b) => this.gc(decodeRequest(schemas.GcRequest, b)),
      Status: (b) => (decodeRequest(schemas.StatusRequest, b), this.statusResponse()),
    };
    const routes = new Map<string, UnaryHandler>();
    const names = new Map<string, string>();
    for (const name of Object.keys(methods) as MethodName[]) {
      routes.set(`/${SERVICE}/${name}`, this.unary(methods[name].response, handlers[name]));
      names.set(`/${SERVICE}/${name}`, name);
    }
    routes.set(
      `/${HEALTH_SERVICE}/Check`,
      this.unary(schemas.HealthCheckResponse, (b) =>
        this.health(decodeRequest(schemas.HealthCheckRequest, b)),
      ),
    );
    names.set(`/${HEALTH_SERVICE}/Check`, 'Health/Check');
    this.server = new UnaryGrpcServer({
      routes,
      toStatus: (err) => {
        const st = toServiceError(err);
        if (st.code === Code.INTERNAL) this.opts.logger.error({ err }, 'call failed');
        else this.opts.logger.debug({ code: st.code, error: st.message }, 'call refused');
        return st;
      },
      onCall: (path, code, ms) => this.opts.onCall?.(names.get(path) ?? path, code, ms),
    });
  }

  private unary(response: Schema, fn: (buf: Buffer) => Promise<object> | object): UnaryHandler {
    // Async, so that a synchronous throw (a request that fails to decode) becomes a refusal alike.
    return async (buf) => encode(response, await fn(buf));
  }

  private async allocate(req: msg.AllocateRequest): Promise<msg.AllocateResponse> {
    const { key, pod } = validateAllocate(req);
    const out = await this.ipam.allocate(key, pod);
    const a = out.allocation;
    return {
      address: a.address,
      deviceNumber: a.deviceNumber,
      routeTable: a.routeTable,
      subnetGateway: a.subnetGateway,
      subnetCidr: a.subnetCidr,
      mtu: this.opts.podMtu,
      vpcCidrs: this.opts.vpcCidrs(),
      interfaceId: a.interfaceId,
      waitedMs: Math.max(0, Math.round(out.waitedMs)),
      reused: out.reused,
    };
  }

  private async release(req: msg.ReleaseRequest): Promise<msg.ReleaseResponse> {
    const { key, reason } = validateRelease(req);
    const a: Allocation | null = await this.ipam.release(key, reason);
    return a
      ? { released: true, address: a.address, deviceNumber: a.deviceNumber, routeTable: a.routeTable }
      : { released: false, address: '', deviceNumber: 0, routeTable: 0 };
  }

  private check(req: msg.CheckRequest): msg.CheckResponse {
    const a = this.ipam.check(validateCheck(req));
    return a
      ? { found: true, address: a.address, deviceNumber: a.deviceNumber, routeTable: a.routeTable }
      : { found: false, address: '', deviceNumber: 0, routeTable: 0 };
  }

  private async gc(req: msg.GcRequest): Promise<msg.GcResponse> {
    const { network, valid } = validateGc(req);
    return { released: await this.ipam.gc(network, valid) };
  }

  private statusResponse(): msg.StatusResponse {
    const s = this.ipam.status();
    const n = this.opts.networkStatus?.() ?? s;
    return {
      ready: n.ready && !this.shuttingDown,
      message: this.shuttingDown ? 'shutting down' : n.message,
      free: s.free,
      assigned: s.assigned,
      cooling: s.cooling,
      total: s.total,
      capacity: s.capacity,
    };
  }

  private readonly healthSource: HealthSource = {
    shuttingDown: () => this.shuttingDown,
    ready: () => this.ipam.status().ready,
  };

  /** SERVING while the daemon accepts calls and the core can hand out an address (now or after a cloud call). */
  serving(): boolean {
    return servingStatus(this.healthSource) === ServingStatus.SERVING;
  }

  private health(req: { service: string }): { status: number } {
    return checkHealth(req, this.healthSource);
  }

  /** Binds the Unix socket: parent directory created 0700 if missing, a stale socket removed, mode 0600. */
  async listen(socketPath: string): Promise<void> {
    await prepareSocketPath(socketPath);
    await this.server.listen(socketPath);
    this.socketPath = socketPath;
    restrictSocket(socketPath);
  }

  /**
   * Stops accepting calls and waits for the calls in flight to finish (an Allocate parked for the pool
   * included) up to graceMs, then cancels what is left. Health reports NOT_SERVING from the first moment.
   */
  async shutdown(graceMs: number): Promise<{ forced: boolean }> {
    this.shuttingDown = true;
    const { forced } = await this.server.shutdown(graceMs);
    if (this.socketPath) removeSocket(this.socketPath);
    return { forced };
  }
}
