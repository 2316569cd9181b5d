// The EC2 surface of the sim, shared by the in-process cloud (Ec2Actions) and the HTTP client, so the
// provider logic above it (SimNodeProvider) is the same code in both. Requests are plain objects; they
// arrive from the network in the server, so every field is checked here with EC2's own error codes.

import { CloudError } from '../errors.js';
import type { Ec2Action } from './actions.js';
import type { InstanceView, InterfaceStatus, InterfaceView, SubnetView } from './model.js';

export interface InterfaceFilter {
  interfaceIds?: string[];
  instanceId?: string;
  subnetId?: string;
  status?: InterfaceStatus;
  /** Every tag given must match. */
  tags?: Record<string, string>;
}

export interface CreateInterfaceRequest {
  subnetId: string;
  securityGroups?: string[];
  description?: string;
  /** SecondaryPrivateIpAddressCount */
  secondaryAddressCount?: number;
  /** Ipv4PrefixCount */
  prefixCount?: number;
  /** EC2 idempotency: the same token returns the interface the first call created. */
  clientToken?: string;
  tags?: Record<string, string>;
}

export interface SimEc2 {
  describeInstances(req: { instanceIds?: string[] }): Promise<InstanceView[]>;
  describeNetworkInterfaces(req: InterfaceFilter): Promise<InterfaceView[]>;
  describeSubnets(req: { subnetIds?: string[]; zone?: string }): Promise<SubnetView[]>;
  createNetworkInterface(req: CreateInterfaceRequest): Promise<InterfaceView>;
  attachNetworkInterface(req: {
    interfaceId: string;
    instanceId: string;
    deviceIndex: number;
  }): Promise<{ attachmentId: string }>;
  detachNetworkInterface(req: { interfaceId: string; force?: boolean }): Promise<void>;
  deleteNetworkInterface(req: { interfaceId: string }): Promise<void>;
  assignPrivateIpAddresses(req: {
    interfaceId: string;
    count?: number;
    prefixCount?: number;
  }): Promise<{ addresses: string[]; prefixes: string[] }>;
  unassignPrivateIpAddresses(req: {
    interfaceId: string;
    addresses?: string[];
    prefixes?: string[];
  }): Promise<void>;
  createTags(req: { resourceIds: string[]; tags: Record<string, string> }): Promise<void>;
  /** Only Attachment.DeleteOnTermination, the attribute the AWS VPC CNI sets after each attach. */
  modifyNetworkInterfaceAttribute(req: { interfaceId: string; deleteOnTermination: boolean }): Promise<void>;
}

/** EC2 action name → method of SimEc2 (the server's POST /ec2/<Action> routes). */
export const ACTION_METHODS: Record<Ec2Action, keyof SimEc2> = {
  DescribeInstances: 'describeInstances',
  DescribeNetworkInterfaces: 'describeNetworkInterfaces',
  DescribeSubnets: 'describeSubnets',
  CreateNetworkInterface: 'createNetworkInterface',
  AttachNetworkInterface: 'attachNetworkInterface',
  DetachNetworkInterface: 'detachNetworkInterface',
  DeleteNetworkInterface: 'deleteNetworkInterface',
  AssignPrivateIpAddresses: 'assignPrivateIpAddresses',
  UnassignPrivateIpAddresses: 'unassignPrivateIpAddresses',
  CreateTags: 'createTags',
  ModifyNetworkInterfaceAttribute: 'modifyNetworkInterfaceAttribute',
};

// ---- request checking (EC2 codes: MissingParameter, InvalidParameterValue) ----

type Req = Record<string, unknown>;

function bad(action: string, msg: string, code = 'InvalidParameterValue'): CloudError {
  return new CloudError(`${action}: ${msg}`, code, action);
}

export function reqObject(action: string, req: unknown): Req {
  if (req === undefined || req === null) return {};
  if (typeof req !== 'object' || Array.isArray(req)) throw bad(action, 'the request must be a JSON object');
  return req as Req;
}

export function needString(action: string, req: Req, field: string): string {
  const v = req[field];
  if (v === undefined || v === '')
    throw bad(action, `the request must contain the parameter ${field}`, 'MissingParameter');
  if (typeof v !== 'string') throw bad(action, `${field} must be a string`);
  return v;
}

export function optString(action: string, req: Req, field: string): string | undefined {
  return req[field] === undefined ? undefined : needString(action, req, field);
}

export function optInt(action: string, req: Req, field: string, min: number): number | undefined {
  const v = req[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw bad(action, `${field} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function optStrings(action: string, req: Req, field: string): string[] | undefined {
  const v = req[field];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw bad(action, `${field} must be a list of strings`);
  return v as string[];
}

export function optTags(action: string, req: Req, field: string): Record<string, string> | undefined {
  const v = req[field];
  if (v === undefined) return undefined;
  if (
    typeof v !== 'object' ||
    v === null ||
    Array.isArray(v) ||
    Object.values(v).some((x) => typeof x !== 'string')
  ) {
    throw bad(action, `${field} must be an object of string values`);
  }
  return v as Record<string, string>;
}

export { bad as invalidParameter };
