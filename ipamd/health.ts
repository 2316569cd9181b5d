// grpc.health.v1.Health/Check for the daemon (what kubelet's gRPC probe and grpc-health-probe ask): SERVING
// while the daemon accepts calls and the core can hand out an address now or after a cloud call,
// NOT_SERVING while it starts (first cloud listing not done) or shuts down, NOT_FOUND for another service.
import { SERVICE } from '../proto/messages.js';
import { ServingStatus } from './service.js';

export class UnknownServiceError extends Error {
  readonly grpcCode = 5; // NOT_FOUND
  constructor(service: string) {
    super(`unknown service ${service}: this server answers for "" and ${SERVICE}`);
    this.name = 'UnknownServiceError';
  }
}

export interface HealthSource {
  shuttingDown: () => boolean;
  ready: () => boolean;
}

export function servingStatus(src: HealthSource): number {
  return !src.shuttingDown() && src.ready() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

export function checkHealth(req: { service: string }, src: HealthSource): { status: number } {
  if (req.service !== '' && req.service !== SERVICE) throw new UnknownServiceError(req.service);
  return { status: servingStatus(src) };
}
