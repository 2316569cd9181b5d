// gRPC service definitions of proto/tidepool.proto and grpc.health.v1 for @grpc/grpc-js, serialized with the
// hand codec of proto/codec.ts (the same bytes the plugin's minimal HTTP/2 client sends). The daemon's
// server uses them, and so do the tests, benchmarks and tidepoolctl as clients.
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { decode, encode, type Schema } from '../proto/codec.js';
import { HEALTH_SERVICE, SERVICE, methods, schemas, type MethodName } from '../proto/messages.js';

function unary<Req, Res>(
  service: string,
  name: string,
  request: Schema,
  response: Schema,
): MethodDefinition<Req, Res> {
  return {
    path: `/${service}/${name}`,
    originalName: name,
    requestStream: false,
    responseStream: false,
    requestSerialize: (msg: Req) => Buffer.from(encode(request, msg as object)),
    requestDeserialize: (buf: Buffer) => decode<Req>(request, buf),
    responseSerialize: (msg: Res) => Buffer.from(encode(response, msg as object)),
    responseDeserialize: (buf: Buffer) => decode<Res>(response, buf),
  };
}

export const ipamService: ServiceDefinition = Object.fromEntries(
  (Object.keys(methods) as MethodName[]).map((name) => [
    name,
    unary(SERVICE, name, methods[name].request, methods[name].response),
  ]),
);

export const healthService: ServiceDefinition = {
  Check: unary(HEALTH_SERVICE, 'Check', schemas.HealthCheckRequest, schemas.HealthCheckResponse),
};

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2 } as const;
