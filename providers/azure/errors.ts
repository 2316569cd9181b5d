// ARM errors → Tidepool's typed cloud errors (providers/errors.ts). The SDK throws RestError
// (statusCode, code, message, details); @azure/identity throws CredentialUnavailableError or
// AuthenticationError. Codes: reference azure-arm-and-kubernetes-anchors.md 3.3 ("Errors"). A 429 is
// either throttling or `RetryableErrorDueToAnotherOperation` (the NIC is locked by another operation):
// only the error body tells them apart, and the second is InUseError, not throttling.
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

/** If-Match did not match the NIC's etag: another writer changed the NIC since we read it. */
export class PreconditionFailedError extends CloudError {}

const SUBNET_FULL = new Set(['SubnetIsFull', 'PrivateIPAddressPrefixNotAvailable']);
const LIMIT = new Set(['PrivateIPAddressesPerNicLimitExceeded', 'PrivateIPAddressesPerVmLimitExceeded']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

interface RestErrorShape {
  name?: string;
  statusCode?: number;
  code?: string;
  message?: string;
  details?: { error?: { code?: string; details?: { code?: string }[] } };
}

/** Every error code in the error and its details (ARM nests the real reason one level down). */
function codesOf(e: RestErrorShape): string[] {
  const out = [e.code ?? ''];
  // The poller's own error for an unexpected first answer carries the body only in the response.
  const res = (e as { response?: { bodyAsText?: string; body?: unknown } }).response;
  const text =
    typeof res?.bodyAsText === 'string' ? res.bodyAsText : typeof res?.body === 'string' ? res.body : '';
  let details = '';
  try {
    details = JSON.stringify(e.details ?? '');
  } catch {
    // not serialisable: no codes from it
  }
  for (const m of `${text} ${details}`.matchAll(/"code"\s*:\s*"([^"]+)"/g)) out.push(m[1]);
  const inner = e.details?.error;
  if (inner?.code) out.push(inner.code);
  for (const d of inner?.details ?? []) if (d.code) out.push(d.code);
  return out.filter(Boolean);
}

/** Retry-After of a failed ARM call, in ms (seconds or an HTTP date); undefined when absent. */
export function retryAfterOf(err: unknown): number | undefined {
  const headers = (err as { response?: { headers?: unknown } })?.response?.headers as
    { get?: (n: string) => string | undefined; [k: string]: unknown } | undefined;
  if (!headers) return undefined;
  const v = typeof headers.get === 'function' ? headers.get('retry-after') : headers['retry-after'];
  if (typeof v !== 'string' || !v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v) - Date.now();
  return Number.isFinite(t) && t > 0 ? t : undefined;
}

/** The delay a 429 asked for, carried on the CloudError made from it. */
export function advertisedDelay(err: unknown): number | undefined {
  return (err as { retryAfterMs?: number })?.retryAfterMs;
}

export function toCloudError(err: unknown, action: string): CloudError {
  if (err instanceof CloudError) return err;
  const out = translate(err, action);
  const delay = retryAfterOf(err);
  if (delay !== undefined) Object.assign(out, { retryAfterMs: delay });
  return out;
}

function translate(err: unknown, action: string): CloudError {
  const e = (err ?? {}) as RestErrorShape;
  const codes = codesOf(e);
  const code = codes.find((c) => c !== 'RetryableError') ?? codes[0] ?? e.name ?? 'Unknown';
  const status = e.statusCode;
  const msg = `${action}: ${code}: ${e.message ?? String(err)}`;
  if (
    e.name === 'CredentialUnavailableError' ||
    e.name === 'AuthenticationError' ||
    e.name === 'AggregateAuthenticationError'
  )
    return new UnauthorizedError(
      `${action}: no token from the managed identity endpoint (${e.message ?? e.name}). Check that the VM ` +
        `has a managed identity (AZURE_CLIENT_ID names a user-assigned one) and that the token endpoint ` +
        `(IMDS, or AZURE_POD_IDENTITY_AUTHORITY_HOST) answers`,
      'ManagedIdentityTokenFailed',
      action,
    );
  if (codes.includes('RetryableErrorDueToAnotherOperation') || codes.includes('AnotherOperationInProgress'))
    return new InUseError(msg, 'RetryableErrorDueToAnotherOperation', action);
  if (status === 429) return new ThrottledError(msg, code, action);
  if (status === 412) return new PreconditionFailedError(msg, code, action);
  if (status === 401 || status === 403 || codes.includes('AuthorizationFailed'))
    return new UnauthorizedError(
      `${action}: the node's managed identity may not ${action === 'GetNetworkInterface' ? 'read' : 'write'} ` +
        `network interfaces (${code}). Grant Microsoft.Network/networkInterfaces/read and /write, and ` +
        `Microsoft.Network/virtualNetworks/subnets/join/action, on the node's resource group (deploy/ Azure role)`,
      code,
      action,
    );
  if (codes.some((c) => SUBNET_FULL.has(c))) return new SubnetFullError(msg, code, action);
  if (codes.some((c) => LIMIT.has(c))) return new LimitExceededError(msg, code, action);
  if (status === 404 || codes.includes('NotFound') || codes.includes('ResourceNotFound'))
    return new NotFoundError(msg, code, action);
  if (status !== undefined && status >= 500) return new TransientError(msg, code, action);
  if (
    (e.code && NETWORK.has(e.code)) ||
    e.name === 'AbortError' ||
    /socket hang up|ECONN/.test(e.message ?? '')
  )
    return new TransientError(msg, e.code ?? code, action);
  return new CloudError(msg, code, action);
}
