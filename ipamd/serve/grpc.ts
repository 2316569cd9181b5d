// The daemon's gRPC server on a Unix socket (mode 0600), served by @grpc/grpc-js: tidepool.v1.Ipam for the CNI
// plugin, grpc.health.v1.Health (grpc-health-check) for probes, and server reflection (@grpc/reflection), so
// that grpcurl, grpc-health-probe or any gRPC client works against the socket with no .proto in hand.
// It validates every request (INVALID_ARGUMENT naming the field), calls the core through the Ipam facade, and
// maps the core's typed errors to gRPC status codes.
//
// The socket is bounded (config GrpcLimits): the daemon owns the listening socket and hands each accepted
// connection to grpc-js (its public connection injector), so it can hold the connection count under its
// limit and close one that never becomes an HTTP/2 session. At the limit, a new connection takes the place
// of one that never sent a byte (oldest first), else of one quiet for the whole idle timeout; only when
// neither exists is the new one refused. A plugin's connection speaks at once, so a flood of silent
// connections cannot lock it out; grpc-js closes sessions idle for the idle timeout and
// bounds each session's memory (nghttp2's maxSessionMemory) and its concurrent streams; node:http2 under it
// answers header lists over its limit, and floods of PING, SETTINGS or invalid frames, with the protocol's
// own errors (ENHANCE_YOUR_CALM, GOAWAY). The memory held for requests across the daemon is at most
// maxConnections × connectionMemoryBytes.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus as HealthStatus } from 'grpc-health-check';
import { DEFAULT_GRPC_LIMITS, type GrpcLimits } from '../../config/settings.js';
import { SERVICE } from '../../proto/messages.js';
import type * as msg from '../../proto/messages.js';
import { DESCRIPTOR, InvalidMessage, ipamService } from '../../proto/services.js';
import {
  InvalidRequestError,
  validateAllocate,
  validateCheck,
  validateGc,
  validateRelease,
} from './requests.js';
import { prepareSocketPath, restrictSocket, removeSocket } from './socket.js';
import {
  NodeFullError,
  PoolEmptyError,
  PoolWaitTimeoutError,
  ShuttingDownError,
  type Allocation,
  type Ipam,
} from '../core/types.js';
import type { Logger } from '../log.js';

export const Code = grpc.status;

export interface ServerOptions {
  ipam: Ipam;
  logger: Logger;
  /** POD_MTU, returned with every allocation. */
  podMtu: number;
  /** The VPC's CIDRs, returned with every allocation (known once the provider described the node). */
  vpcCidrs: () => string[];
  /** Called after every call with its method, gRPC status code and duration, for metrics. */
  onCall?: (method: string, code: number, ms: number) => void;
  /** Bounds of the socket; the settings' defaults when absent. */
  limits?: GrpcLimits;
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

/** The request, or INVALID_ARGUMENT when it did not decode (services.ts never throws from a deserializer). */
function request<T>(value: T | InvalidMessage): T {
  if (value instanceof InvalidMessage)
    throw new InvalidRequestError('request', `is not a valid protobuf message (${value.reason})`);
  return value;
}

/** When a connection was opened, and when its byte counters were last seen to move. */
interface Activity {
  opened: number;
  bytes: number;
  lastActive: number;
}

/**
 * How often health follows the core's readiness (grpc-health-check serves what it was last told). An
 * interceptor that refreshed it on each health call cost every call of the socket its wrapper.
 */
const HEALTH_REFRESH_MS = 100;

export class IpamServer {
  private readonly server: grpc.Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE]: 'NOT_SERVING' });
  private readonly limits: GrpcLimits;
  private readonly connections = new Map<Socket, Activity>();
  private listener: NetServer | null = null;
  private injector: ReturnType<grpc.Server['createConnectionInjector']> | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private socketPath: string | null = null;
  private shuttingDown = false;
  private refused = 0;
  private evicted = 0;
  private readonly ipam: Ipam;

  constructor(private readonly opts: ServerOptions) {
    this.ipam = opts.ipam;
    this.limits = opts.limits ?? DEFAULT_GRPC_LIMITS;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': this.limits.maxMessageBytes,
      'grpc.max_send_message_length': 4 << 20,
      'grpc.max_connection_idle_ms': this.limits.idleTimeoutMs,
      'grpc.max_concurrent_streams': this.limits.maxConcurrentStreams,
      'grpc-node.max_session_memory': Math.max(1, Math.ceil(this.limits.connectionMemoryBytes / (1 << 20))),
      'grpc.enable_channelz': 0,
    });
    const handlers: Record<string, (req: never) => Promise<object> | object> = {
      Allocate: (r: msg.AllocateRequest | InvalidMessage) => this.allocate(request(r)),
      Release: (r: msg.ReleaseRequest | InvalidMessage) => this.release(request(r)),
      Check: (r: msg.CheckRequest | InvalidMessage) => this.check(request(r)),
      Gc: (r: msg.GcRequest | InvalidMessage) => this.gc(request(r)),
      Status: (r: msg.StatusRequest | InvalidMessage) => (request(r), this.statusResponse()),
    };
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [name, fn] of Object.entries(handlers)) impl[name] = this.unary(name, fn);
    this.server.addService(ipamService, impl);
    this.health.addToServer(this.server);
    new ReflectionService(fromJSON(DESCRIPTOR as Parameters<typeof fromJSON>[0])).addToServer(this.server);
  }

  private unary(
    name: string,
    fn: (req: never) => Promise<object> | object,
  ): grpc.handleUnaryCall<any, object> {
    return (call, callback) => {
      const started = performance.now();
      const done = (code: number) => this.opts.onCall?.(name, code, performance.now() - started);
      Promise.resolve()
        .then(() => fn(call.request as never))
        .then(
          (res) => {
            done(Code.OK);
            callback(null, res);
          },
          (err) => {
            const st = toServiceError(err);
            if (st.code === Code.INTERNAL) this.opts.logger.error({ err, method: name }, 'call failed');
            else this.opts.logger.debug({ code: st.code, error: st.message, method: name }, 'call refused');
            done(st.code);
            callback({ code: st.code, details: st.message });
          },
        );
    };
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

  /** SERVING while the daemon accepts calls and the core can hand out an address (now or after a cloud call). */
  serving(): boolean {
    return !this.shuttingDown && this.ipam.status().ready;
  }

  private refreshHealth(): void {
    const status: HealthStatus = this.serving() ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    this.health.setStatus(SERVICE, status);
  }

  /** Connections refused since start because the limit was reached. */
  get refusedConnections(): number {
    return this.refused;
  }

  /** Open connections now. */
  get openConnections(): number {
    return this.connections.size;
  }

  /** Binds the Unix socket: parent directory created 0700 if missing, a stale socket removed, mode 0600. */
  async listen(socketPath: string): Promise<void> {
    await prepareSocketPath(socketPath);
    const injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.injector = injector;
    const listener = createServer({ pauseOnConnect: false }, (socket) => this.accept(socket, injector));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      // A deep accept queue: a burst of pods (or a flood) connects faster than one event loop turn accepts.
      listener.listen({ path: socketPath, backlog: 4096 }, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    this.listener = listener;
    this.socketPath = socketPath;
    restrictSocket(socketPath);
    this.refreshHealth();
    this.healthTimer = setInterval(() => this.refreshHealth(), HEALTH_REFRESH_MS);
    this.healthTimer.unref();
  }

  private accept(socket: Socket, injector: { injectConnection(s: Socket): void }): void {
    if (this.shuttingDown || (this.connections.size >= this.limits.maxConnections && !this.evictOne())) {
      this.refused++;
      if (this.refused === 1 || this.refused % 1000 === 0)
        this.opts.logger.warn(
          { open: this.connections.size, limit: this.limits.maxConnections, refused: this.refused },
          'gRPC connection refused: too many open connections (TIDEPOOL_GRPC_MAX_CONNECTIONS)',
        );
      socket.destroy();
      return;
    }
    const now = Date.now();
    this.connections.set(socket, { opened: now, bytes: 0, lastActive: now });
    socket.once('close', () => this.connections.delete(socket));
    // A connection that sends nothing never becomes an HTTP/2 session for grpc-js's idle timer: the socket's
    // own timeout closes it. One that has spoken is left to grpc-js, which closes it once idle.
    socket.setTimeout(this.limits.idleTimeoutMs, () => {
      if (socket.bytesRead > 0) return socket.setTimeout(0);
      this.opts.logger.debug('gRPC connection closed: it sent nothing for the idle timeout');
      socket.destroy();
    });
    // grpc-js (an HTTP/2 session, its buffers, its SETTINGS) only once the client has spoken: a flood of
    // silent connections costs a file descriptor each, and no session. node:http2 takes over the bytes
    // already read.
    socket.once('readable', () => {
      if (!socket.destroyed) injector.injectConnection(socket);
    });
  }

  /**
   * Makes room for a new connection at the limit: closes the oldest connection that never sent a byte, else
   * the one quiet longest if it has been quiet for the idle timeout. False when every connection is live.
   */
  private evictOne(): boolean {
    const now = Date.now();
    let silent: [Socket, Activity] | null = null;
    let quiet: [Socket, Activity] | null = null;
    for (const entry of this.connections) {
      const [sock, a] = entry;
      if (sock.destroyed) {
        this.connections.delete(sock); // closed, its 'close' not handled yet: the room is already there
        return true;
      }
      const bytes = sock.bytesRead + sock.bytesWritten;
      if (bytes !== a.bytes) {
        a.bytes = bytes;
        a.lastActive = now;
      }
      if (sock.bytesRead === 0) {
        if (!silent || a.opened < silent[1].opened) silent = entry;
      } else if (now - a.lastActive >= this.limits.idleTimeoutMs) {
        if (!quiet || a.lastActive < quiet[1].lastActive) quiet = entry;
      }
    }
    const victim = silent ?? quiet;
    if (!victim) return false;
    this.evicted++;
    if (this.evicted === 1 || this.evicted % 1000 === 0)
      this.opts.logger.warn(
        { limit: this.limits.maxConnections, evicted: this.evicted, silent: victim === silent },
        'gRPC connection limit reached: closed a connection that was silent or idle to make room',
      );
    this.connections.delete(victim[0]);
    victim[0].destroy();
    return true;
  }

  /** Connections closed since start to make room for a new one at the limit. */
  get evictedConnections(): number {
    return this.evicted;
  }

  /**
   * Stops accepting calls and waits for the calls in flight to finish (an Allocate parked for the pool
   * included) up to graceMs, then cancels what is left. Health reports NOT_SERVING from the first moment.
   */
  async shutdown(graceMs: number): Promise<{ forced: boolean }> {
    this.shuttingDown = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.refreshHealth();
    const listener = this.listener;
    this.listener = null;
    const closed = listener ? new Promise<void>((r) => listener.close(() => r())) : Promise.resolve();
    if (this.socketPath) removeSocket(this.socketPath);
    // GOAWAY on every connection: calls in flight finish, new ones go elsewhere; after graceMs grpc-js
    // cancels what is left.
    this.injector?.drain(graceMs);
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, Math.min(20, Math.max(1, deadline - Date.now()))));
    const forced = this.connections.size > 0;
    for (const s of this.connections.keys()) s.destroy();
    this.injector?.destroy();
    this.server.forceShutdown();
    await closed;
    return { forced };
  }
}
