// Every error that leaves the plugin carries a CNI error code (SPEC section "Error", reference
// cni-spec-and-test-tools.md 1.6). The dispatcher prints it as the spec's error JSON on stdout and exits 1.

export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  // Plugin-specific codes are 100 and above (spec: 0-99 are reserved).
  DatapathFailure: 100,
  DaemonFailure: 101,
  Internal: 999,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class CniError extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    msg: string,
    readonly details = '',
  ) {
    super(msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return {
      cniVersion,
      code: this.code,
      msg: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** Wraps anything thrown into a CniError; a typed error keeps its code. */
export function asCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  const e = err as Error;
  return new CniError(ErrorCode.Internal, e?.message ?? String(err), e?.stack ?? '');
}
