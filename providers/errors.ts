// Typed cloud errors. Providers translate their SDK's errors into these; the reconciler's budget decides
// what to retry (throttled, transient), what to back off from (subnet full) and what to report once.

export class CloudError extends Error {
  constructor(
    message: string,
    /** The cloud's own error code, e.g. RequestLimitExceeded, InsufficientFreeAddressesInSubnet. */
    readonly code: string,
    readonly action: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** RequestLimitExceeded, HTTP 429/503 Throttling: retry with jittered backoff. */
export class ThrottledError extends CloudError {}
/** 5xx, timeouts, connection resets: retry with backoff. */
export class TransientError extends CloudError {}
/** Subnet has no free address or /28 block (InsufficientFreeAddressesInSubnet, InsufficientCidrBlocks). */
export class SubnetFullError extends CloudError {}
/** An instance or interface limit was hit (PrivateIpAddressLimitExceeded, AttachmentLimitExceeded). */
export class LimitExceededError extends CloudError {}
/** The node's identity lacks a permission (UnauthorizedOperation); reported once, naming the action. */
export class UnauthorizedError extends CloudError {}
/** The resource no longer exists (InvalidNetworkInterfaceID.NotFound). */
export class NotFoundError extends CloudError {}
/** The operation is not possible on this cloud (e.g. hot-attaching a NIC on Azure). */
export class UnsupportedError extends CloudError {}
/** The resource is busy (InvalidNetworkInterface.InUse after a detach, Azure AnotherOperationInProgress). */
export class InUseError extends CloudError {}

export function isRetryable(err: unknown): boolean {
  return err instanceof ThrottledError || err instanceof TransientError || err instanceof InUseError;
}
