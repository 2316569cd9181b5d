// EC2 errors → Tidepool's typed cloud errors (providers/errors.ts). Codes from the EC2 API reference's
// error list and reference aws-vpc-cni.md 4.1/4.4: the daemon's budget retries Throttled/Transient/InUse,
// backs off on SubnetFull, and reports Unauthorized once.
import {
  CloudError,
  InUseError,
  LimitExceededError,
  NotFoundError,
  SubnetFullError,
  ThrottledError,
  TransientError,
  UnauthorizedError,
} from '../errors.js';

const THROTTLE = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestThrottled',
  'SlowDown',
]);
const SUBNET_FULL = new Set([
  'InsufficientFreeAddressesInSubnet',
  'InsufficientCidrBlocks',
  'InsufficientAddressCapacity',
]);
const LIMIT = new Set([
  'PrivateIpAddressLimitExceeded',
  'AttachmentLimitExceeded',
  'NetworkInterfaceLimitExceeded',
  'InvalidParameterValue.MaxInterfaces',
]);
const NOT_FOUND = new Set([
  'InvalidNetworkInterfaceID.NotFound',
  'InvalidNetworkInterfaceId.NotFound',
  'InvalidAttachmentID.NotFound',
  'InvalidInstanceID.NotFound',
  'InvalidSubnetID.NotFound',
]);
const IN_USE = new Set([
  'InvalidNetworkInterface.InUse',
  'IncorrectState',
  'InvalidNetworkInterface.Attached',
]);
const TRANSIENT = new Set([
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
  'RequestTimeout',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  cause?: { code?: string };
}

/** Translates anything the SDK (or the network under it) threw during `action` into a CloudError. */
export function toCloudError(err: unknown, action: string): CloudError {
  if (err instanceof CloudError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const code = e.Code ?? e.name ?? e.code ?? 'Unknown';
  const status = e.$metadata?.httpStatusCode;
  const msg = `${action}: ${code}: ${e.message ?? String(err)}`;
  if (THROTTLE.has(code) || status === 429) return new ThrottledError(msg, code, action);
  if (code === 'UnauthorizedOperation' || code === 'AuthFailure' || code === 'AccessDenied')
    return new UnauthorizedError(
      `${action}: the node's IAM identity lacks permission ec2:${action} (${code}). Grant it in the node role's ` +
        `policy (see deploy/ IAM policy); until then Tidepool cannot ${verb(action)}.`,
      code,
      action,
    );
  if (SUBNET_FULL.has(code)) return new SubnetFullError(msg, code, action);
  if (LIMIT.has(code)) return new LimitExceededError(msg, code, action);
  if (NOT_FOUND.has(code) || /\.NotFound$/.test(code)) return new NotFoundError(msg, code, action);
  if (IN_USE.has(code) || /currently in use|is in use/i.test(e.message ?? ''))
    return new InUseError(msg, code, action);
  if (TRANSIENT.has(code) || (status !== undefined && status >= 500) || e.$fault === 'server')
    return new TransientError(msg, code, action);
  const netCode = e.code ?? e.cause?.code;
  if ((netCode && NETWORK.has(netCode)) || code === 'TimeoutError' || code === 'AbortError')
    return new TransientError(msg, netCode ?? code, action);
  // An HTTP reply we could not parse as an EC2 error (a proxy's HTML 502, say) is the network's fault.
  if (status === undefined && /fetch failed|socket hang up|connect/i.test(e.message ?? ''))
    return new TransientError(msg, code, action);
  return new CloudError(msg, code, action);
}

function verb(action: string): string {
  if (/NetworkInterface$/.test(action)) return 'manage network interfaces';
  if (/PrivateIpAddresses$/.test(action)) return 'change pod addresses';
  return 'read what it needs from EC2';
}
