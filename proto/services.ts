// gRPC service definitions of proto/tidepool.proto (tidepool.v1.Ipam) and grpc.health.v1.Health, on the
// generated code, for @grpc/grpc-js: the daemon serves them, and tidepoolctl, the tests and the benchmarks
// call them. Requests are decoded strictly: a string field that is not valid UTF-8 (proto3 requires it) is a
// bad request, not a U+FFFD quietly stored. A request that does not decode becomes an InvalidMessage
// instead of an exception, so that the server can answer INVALID_ARGUMENT naming the problem (grpc-js
// answers INTERNAL for a deserializer that throws).
import { isUtf8 } from 'node:buffer';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';
import { decode, encode, type Schema } from './codec.js';
import { HEALTH_SERVICE, SERVICE, methods, schemas, type MethodName } from './messages.js';
import descriptor from './generated/tidepool.json' with { type: 'json' };

/** What a request decoded to when it was not a valid message of its type. */
export class InvalidMessage {
  constructor(readonly reason: string) {}
}

interface FieldJson {
  type: string;
  id: number;
  rule?: string;
  keyType?: string;
}
interface NamespaceJson {
  fields?: Record<string, FieldJson>;
  nested?: Record<string, NamespaceJson>;
}

/** Field numbers of string fields, and of message fields with their type, per message type name. */
interface Utf8Plan {
  strings: Set<number>;
  messages: Map<number, string>;
}

function plans(): Map<string, Utf8Plan> {
  const out = new Map<string, Utf8Plan>();
  const walk = (ns: NamespaceJson, prefix: string) => {
    for (const [name, child] of Object.entries(ns.nested ?? {})) {
      const full = prefix ? `${prefix}.${name}` : name;
      if (child.fields) {
        const plan: Utf8Plan = { strings: new Set(), messages: new Map() };
        for (const f of Object.values(child.fields)) {
          if (f.keyType) continue; // a map: the daemon receives none
          if (f.type === 'string') plan.strings.add(f.id);
          else if (/^[A-Z]/.test(f.type)) plan.messages.set(f.id, `${prefix}.${f.type}`);
        }
        out.set(full, plan);
      }
      walk(child, full);
    }
  };
  walk(descriptor as NamespaceJson, '');
  return out;
}
const UTF8_PLANS = plans();

/** Throws when a string field (at any depth) of the message in buf is not valid UTF-8. */
export function checkUtf8(type: string, buf: Uint8Array): void {
  const plan = UTF8_PLANS.get(type);
  if (!plan) throw new Error(`no descriptor for ${type}`);
  const r = protobuf.Reader.create(buf);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wire = tag & 7;
    if (wire === 2 && (plan.strings.has(no) || plan.messages.has(no))) {
      const bytes = r.bytes();
      if (plan.strings.has(no) && !isUtf8(bytes))
        throw new Error(`field ${no} of ${type} is not valid UTF-8`);
      const inner = plan.messages.get(no);
      if (inner) checkUtf8(inner, bytes);
    } else r.skipType(wire);
  }
}

function unary<Req, Res>(
  service: string,
  name: string,
  typeName: string,
  request: Schema,
  response: Schema,
): MethodDefinition<Req | InvalidMessage, Res> {
  return {
    path: `/${service}/${name}`,
    originalName: name,
    requestStream: false,
    responseStream: false,
    requestSerialize: (msg) => Buffer.from(encode(request, msg as object)),
    requestDeserialize: (buf: Buffer) => {
      try {
        checkUtf8(typeName, buf);
        // The message object itself: every field reads as its value or its proto3 default (defaults live
        // on the generated prototype), without the copy into a plain object that decode() makes.
        return request.decode(buf) as Req;
      } catch (err) {
        return new InvalidMessage((err as Error).message);
      }
    },
    responseSerialize: (msg: Res) => Buffer.from(encode(response, msg as object)),
    responseDeserialize: (buf: Buffer) => decode<Res>(response, buf),
  };
}

export const ipamService: ServiceDefinition = Object.fromEntries(
  (Object.keys(methods) as MethodName[]).map((name) => [
    name,
    unary(SERVICE, name, `tidepool.v1.${name}Request`, methods[name].request, methods[name].response),
  ]),
);

/** The client's view of grpc.health.v1.Health/Check (the daemon serves the whole service with grpc-health-check). */
export const healthCheckService: ServiceDefinition = {
  Check: unary(
    HEALTH_SERVICE,
    'Check',
    'grpc.health.v1.HealthCheckRequest',
    schemas.HealthCheckRequest,
    schemas.HealthCheckResponse,
  ),
};

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

/** The descriptor of every service and message, for server reflection. */
export const DESCRIPTOR = descriptor;
