// Types and schemas of proto/tidepool.proto, for proto/codec.ts. Keep field numbers identical to the .proto.
import type { Schema } from './codec.js';

export const SERVICE = 'tidepool.v1.Ipam';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export interface AllocateRequest {
  network: string;
  containerId: string;
  ifname: string;
  netns: string;
  podNamespace: string;
  podName: string;
  podUid: string;
}
export interface AllocateResponse {
  address: string;
  deviceNumber: number;
  routeTable: number;
  subnetGateway: string;
  subnetCidr: string;
  mtu: number;
  vpcCidrs: string[];
  interfaceId: string;
  waitedMs: number;
  reused: boolean;
}
export interface ReleaseRequest {
  network: string;
  containerId: string;
  ifname: string;
  reason: string;
}
export interface ReleaseResponse {
  released: boolean;
  address: string;
  deviceNumber: number;
  routeTable: number;
}
export interface CheckRequest {
  network: string;
  containerId: string;
  ifname: string;
}
export interface CheckResponse {
  found: boolean;
  address: string;
  deviceNumber: number;
  routeTable: number;
}
export interface Attachment {
  containerId: string;
  ifname: string;
}
export interface GcRequest {
  network: string;
  valid: Attachment[];
}
export interface GcResponse {
  released: string[];
}
export type StatusRequest = Record<string, never>;
export interface StatusResponse {
  ready: boolean;
  message: string;
  free: number;
  assigned: number;
  cooling: number;
  total: number;
  capacity: number;
}

const key: Schema = {
  network: { no: 1, type: 'string' },
  containerId: { no: 2, type: 'string' },
  ifname: { no: 3, type: 'string' },
};
const attachment: Schema = { containerId: { no: 1, type: 'string' }, ifname: { no: 2, type: 'string' } };

export const schemas = {
  AllocateRequest: {
    ...key,
    netns: { no: 4, type: 'string' },
    podNamespace: { no: 5, type: 'string' },
    podName: { no: 6, type: 'string' },
    podUid: { no: 7, type: 'string' },
  },
  AllocateResponse: {
    address: { no: 1, type: 'string' },
    deviceNumber: { no: 2, type: 'uint32' },
    routeTable: { no: 3, type: 'uint32' },
    subnetGateway: { no: 4, type: 'string' },
    subnetCidr: { no: 5, type: 'string' },
    mtu: { no: 6, type: 'uint32' },
    vpcCidrs: { no: 7, type: 'string', repeated: true },
    interfaceId: { no: 8, type: 'string' },
    waitedMs: { no: 9, type: 'uint32' },
    reused: { no: 10, type: 'bool' },
  },
  ReleaseRequest: { ...key, reason: { no: 4, type: 'string' } },
  ReleaseResponse: {
    released: { no: 1, type: 'bool' },
    address: { no: 2, type: 'string' },
    deviceNumber: { no: 3, type: 'uint32' },
    routeTable: { no: 4, type: 'uint32' },
  },
  CheckRequest: key,
  CheckResponse: {
    found: { no: 1, type: 'bool' },
    address: { no: 2, type: 'string' },
    deviceNumber: { no: 3, type: 'uint32' },
    routeTable: { no: 4, type: 'uint32' },
  },
  GcRequest: {
    network: { no: 1, type: 'string' },
    valid: { no: 2, type: 'message', schema: attachment, repeated: true },
  },
  GcResponse: { released: { no: 1, type: 'string', repeated: true } },
  StatusRequest: {},
  StatusResponse: {
    ready: { no: 1, type: 'bool' },
    message: { no: 2, type: 'string' },
    free: { no: 3, type: 'uint32' },
    assigned: { no: 4, type: 'uint32' },
    cooling: { no: 5, type: 'uint32' },
    total: { no: 6, type: 'uint32' },
    capacity: { no: 7, type: 'uint32' },
  },
  // grpc.health.v1: HealthCheckRequest { string service = 1; }, HealthCheckResponse { ServingStatus status = 1; }
  HealthCheckRequest: { service: { no: 1, type: 'string' } },
  HealthCheckResponse: { status: { no: 1, type: 'uint32' } },
} satisfies Record<string, Schema>;

/** Method name → request and response schema, for the server and the plugin's client. */
export const methods = {
  Allocate: { request: schemas.AllocateRequest, response: schemas.AllocateResponse },
  Release: { request: schemas.ReleaseRequest, response: schemas.ReleaseResponse },
  Check: { request: schemas.CheckRequest, response: schemas.CheckResponse },
  Gc: { request: schemas.GcRequest, response: schemas.GcResponse },
  Status: { request: schemas.StatusRequest, response: schemas.StatusResponse },
} as const;

export type MethodName = keyof typeof methods;
