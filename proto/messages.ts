// The contract's services, methods and message types, all from the code generated from proto/tidepool.proto
// (proto/generated/tidepool.js): nothing here restates a field.
import { grpc, tidepool } from './generated/tidepool.js';
import type { Schema } from './codec.js';

export const SERVICE = 'tidepool.v1.Ipam';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

const v1 = tidepool.v1;
const health = grpc.health.v1;

/** A message as a plain object: every field present, none null. */
type Plain<P> = { [K in keyof Omit<P, '$unknowns'>]-?: Plain1<NonNullable<P[K]>> };
type Plain1<V> = V extends (infer E)[] ? Plain1<E>[] : V extends object ? Plain<V> : V;

export type AllocateRequest = Plain<tidepool.v1.AllocateRequest.$Properties>;
export type AllocateResponse = Plain<tidepool.v1.AllocateResponse.$Properties>;
export type ReleaseRequest = Plain<tidepool.v1.ReleaseRequest.$Properties>;
export type ReleaseResponse = Plain<tidepool.v1.ReleaseResponse.$Properties>;
export type CheckRequest = Plain<tidepool.v1.CheckRequest.$Properties>;
export type CheckResponse = Plain<tidepool.v1.CheckResponse.$Properties>;
export type Attachment = Plain<tidepool.v1.Attachment.$Properties>;
export type GcRequest = Plain<tidepool.v1.GcRequest.$Properties>;
export type GcResponse = Plain<tidepool.v1.GcResponse.$Properties>;
export type StatusRequest = Record<string, never>;
export type StatusResponse = Plain<tidepool.v1.StatusResponse.$Properties>;

export const schemas = {
  AllocateRequest: v1.AllocateRequest,
  AllocateResponse: v1.AllocateResponse,
  ReleaseRequest: v1.ReleaseRequest,
  ReleaseResponse: v1.ReleaseResponse,
  CheckRequest: v1.CheckRequest,
  CheckResponse: v1.CheckResponse,
  Attachment: v1.Attachment,
  GcRequest: v1.GcRequest,
  GcResponse: v1.GcResponse,
  StatusRequest: v1.StatusRequest,
  StatusResponse: v1.StatusResponse,
  HealthCheckRequest: health.HealthCheckRequest,
  HealthCheckResponse: health.HealthCheckResponse,
} satisfies Record<string, Schema>;

/** Method name → request and response type, for the server and the plugin's client. */
export const methods = {
  Allocate: { request: schemas.AllocateRequest, response: schemas.AllocateResponse },
  Release: { request: schemas.ReleaseRequest, response: schemas.ReleaseResponse },
  Check: { request: schemas.CheckRequest, response: schemas.CheckResponse },
  Gc: { request: schemas.GcRequest, response: schemas.GcResponse },
  Status: { request: schemas.StatusRequest, response: schemas.StatusResponse },
} as const;

export type MethodName = keyof typeof methods;
