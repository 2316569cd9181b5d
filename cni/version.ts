// The spec versions this plugin speaks (reference 1.7): 0.1.0/0.2.0 have another result shape and are not
// offered. CHECK needs a config of 0.4.0 or later, GC and STATUS 1.1.0 or later (as libcni's skel checks).
import { CniError, ErrorCode } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const CURRENT_VERSION = '1.1.0';

/** Compares two "major.minor.patch" strings; both must be well formed. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

export function requireSupported(version: string): void {
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version))
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI versions',
      `config is "${version}", plugin supports [${SUPPORTED_VERSIONS.map((v) => `"${v}"`).join(' ')}]`,
    );
}

/** CHECK exists from 0.4.0 on, GC and STATUS from 1.1.0 on. */
export function requireCommandAllowed(command: string, version: string): void {
  const min = command === 'CHECK' ? '0.4.0' : command === 'GC' || command === 'STATUS' ? '1.1.0' : null;
  if (min && compareVersions(version, min) < 0)
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `config version does not allow ${command}`,
      `config is "${version}"; ${command} needs ${min} or later`,
    );
}
