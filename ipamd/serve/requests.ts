// Validation of the gRPC requests the daemon serves. Every rule comes from the CNI spec (reference
// cni-spec-and-test-tools.md section 1.1 and 1.2): the network name and the container id match
// ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, an ifname is at most 15 bytes (IFNAMSIZ), not "." or "..", and holds no '/', ':'
// or whitespace. A bad request is refused with the field named, so a broken plugin or a hand-made call
// says what is wrong instead of creating an allocation under a key nobody can release.
import type { AllocateRequest, CheckRequest, GcRequest, ReleaseRequest } from '../../proto/messages.js';
import type { AllocationKey, PodRef } from '../core/types.js';

export class InvalidRequestError extends Error {
  readonly grpcCode = 3; // INVALID_ARGUMENT
  constructor(
    readonly field: string,
    rule: string,
  ) {
    super(`${field}: ${rule}`);
    this.name = 'InvalidRequestError';
  }
}

const ID_RULE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_ID = 256;
const MAX_FREE_TEXT = 1024;

function identifier(field: string, value: string): void {
  if (value === '') throw new InvalidRequestError(field, 'is required');
  if (value.length > MAX_ID) throw new InvalidRequestError(field, `must be at most ${MAX_ID} characters`);
  if (!ID_RULE.test(value)) throw new InvalidRequestError(field, 'must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$');
}

function ifname(field: string, value: string): void {
  if (value === '') throw new InvalidRequestError(field, 'is required');
  // IFNAMSIZ is 16 bytes with the NUL: the kernel counts bytes, not characters.
  if (Buffer.byteLength(value, 'utf8') > 15) throw new InvalidRequestError(field, 'must be at most 15 bytes');
  if (value === '.' || value === '..') throw new InvalidRequestError(field, 'must not be "." or ".."');
  if (/[/:\s]/.test(value)) throw new InvalidRequestError(field, "must not contain '/', ':' or whitespace");
}

function freeText(field: string, value: string, max = MAX_FREE_TEXT): void {
  if (value.length > max) throw new InvalidRequestError(field, `must be at most ${max} characters`);
  if (/[\u0000-\u001f\u007f]/.test(value))
    throw new InvalidRequestError(field, 'must not contain control characters');
}

function key(req: { network: string; containerId: string; ifname: string }): AllocationKey {
  identifier('network', req.network);
  identifier('container_id', req.containerId);
  ifname('ifname', req.ifname);
  return { network: req.network, containerId: req.containerId, ifname: req.ifname };
}

export function validateAllocate(req: AllocateRequest): { key: AllocationKey; pod: PodRef } {
  const k = key(req);
  if (req.netns === '')
    throw new InvalidRequestError('netns', 'is required (the path of the pod network namespace)');
  freeText('netns', req.netns, 4096);
  // Kubernetes names: namespace and pod name are DNS labels/subdomains; uid is a UUID. They are optional
  // (a runtime outside Kubernetes sends none) but when present must be well formed.
  if (req.podNamespace !== '' && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(req.podNamespace))
    throw new InvalidRequestError('pod_namespace', 'must be a Kubernetes namespace name (RFC 1123 label)');
  if (req.podName !== '' && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(req.podName))
    throw new InvalidRequestError('pod_name', 'must be a Kubernetes pod name (RFC 1123 subdomain)');
  freeText('pod_uid', req.podUid, 128);
  return {
    key: k,
    pod: { namespace: req.podNamespace, name: req.podName, uid: req.podUid, netns: req.netns },
  };
}

export function validateRelease(req: ReleaseRequest): { key: AllocationKey; reason: string } {
  const k = key(req);
  freeText('reason', req.reason, 256);
  return { key: k, reason: req.reason || 'cni-del' };
}

export function validateCheck(req: CheckRequest): AllocationKey {
  return key(req);
}

export function validateGc(req: GcRequest): {
  network: string;
  valid: { containerId: string; ifname: string }[];
} {
  identifier('network', req.network);
  const valid = req.valid.map((a, i) => {
    identifier(`valid[${i}].container_id`, a.containerId);
    ifname(`valid[${i}].ifname`, a.ifname);
    return { containerId: a.containerId, ifname: a.ifname };
  });
  return { network: req.network, valid };
}
