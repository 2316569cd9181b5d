// A promise-returning gRPC client of the daemon (grpc-js on the generated contract), for tests and benchmarks.
// The CNI plugin has its own lean node:http2 client; this one exercises the server as any gRPC client would.
import * as grpc from '@grpc/grpc-js';
import { healthCheckService, ipamService } from '../../proto/services.js';
import type * as msg from '../../proto/messages.js';

const IpamClientCtor = grpc.makeClientConstructor(ipamService, 'tidepool.v1.Ipam');
const HealthClientCtor = grpc.makeClientConstructor(healthCheckService, 'grpc.health.v1.Health');

export type GrpcError = grpc.ServiceError;

export class IpamClient {
  private readonly ipam: grpc.Client;
  private readonly health: grpc.Client;

  constructor(socketPath: string) {
    const target = `unix:${socketPath}`;
    const creds = grpc.credentials.createInsecure();
    // No retries or backoff surprises: a test wants to see each failure as it happens.
    const options = {
      'grpc.enable_channelz': 0,
      'grpc.enable_retries': 0,
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': 200,
    };
    this.ipam = new IpamClientCtor(target, creds, options);
    this.health = new HealthClientCtor(target, creds, options);
  }

  private call<Req, Res>(client: grpc.Client, method: string, req: Req, deadlineMs: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method].bind(client);
      fn(
        req,
        Number.isFinite(deadlineMs) ? { deadline: Date.now() + deadlineMs } : {},
        (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)),
      );
    });
  }

  allocate(req: Partial<msg.AllocateRequest>, deadlineMs = 30000): Promise<msg.AllocateResponse> {
    return this.call(this.ipam, 'Allocate', { netns: '/var/run/netns/test', ...req }, deadlineMs);
  }
  release(req: Partial<msg.ReleaseRequest>, deadlineMs = 30000): Promise<msg.ReleaseResponse> {
    return this.call(this.ipam, 'Release', req, deadlineMs);
  }
  check(req: Partial<msg.CheckRequest>, deadlineMs = 30000): Promise<msg.CheckResponse> {
    return this.call(this.ipam, 'Check', req, deadlineMs);
  }
  gc(req: Partial<msg.GcRequest>, deadlineMs = 30000): Promise<msg.GcResponse> {
    return this.call(this.ipam, 'Gc', req, deadlineMs);
  }
  status(deadlineMs = 30000): Promise<msg.StatusResponse> {
    return this.call(this.ipam, 'Status', {}, deadlineMs);
  }
  healthCheck(service = '', deadlineMs = 5000): Promise<{ status: number }> {
    return this.call(this.health, 'Check', { service }, deadlineMs);
  }

  close(): void {
    this.ipam.close();
    this.health.close();
  }
}

export const grpcStatus = grpc.status;
