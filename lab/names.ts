// Names of the lab's namespaces. Every name starts with the lab's prefix, which is unique per lab
// instance (tests pass `tp-lab-<random>-`), so two labs never collide.

export const DEFAULT_PREFIX = 'tp-';
const PREFIX_RE = /^[a-z][a-z0-9-]{0,23}$/;
const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export function validatePrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix))
    throw new Error(`bad lab prefix ${JSON.stringify(prefix)}: 1-24 of a-z 0-9 -, starting with a letter`);
  return prefix;
}

/** Pod names become namespace names: DNS-label-like, at most 32 characters. */
export function validatePodName(name: string): string {
  if (!NAME_RE.test(name))
    throw new Error(`bad pod name ${JSON.stringify(name)}: 1-32 of a-z 0-9 -, not starting or ending with -`);
  return name;
}

export function labNames(prefix: string) {
  return {
    vpc: `${prefix}vpc`,
    internet: `${prefix}internet`,
    node: (name: string) => `${prefix}${name}`,
    pod: (name: string) => `${prefix}pod-${name}`,
  };
}

/** The default state directory of a lab. */
export function defaultStateDir(prefix: string): string {
  return `/run/tidepool-lab/${prefix.replace(/-+$/, '') || 'lab'}`;
}
