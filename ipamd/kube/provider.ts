// The provider as the Kubernetes integration sees it: a decorator around the daemon's provider that places
// new interfaces by the node's ENIConfig (custom networking) and reports cloud failures operators must act on
// (subnet full, missing permissions) as Events. Errors are recognised by name, not by class: the AWS provider
// is bundled apart and carries its own copies of the error classes (ipamd/providers.ts).
import type { AttachRequest, Provider } from '../../providers/types.js';
import type { EniConfigSpec } from './eniconfig.js';

export interface ProviderHooks {
  /** Subnet and groups for the next interface (custom networking), or null to keep the node's. */
  placement?: () => Promise<EniConfigSpec | null>;
  /** A cloud call failed (every failure; the receiver picks what to report). */
  onError?: (call: string, err: Error) => void;
}

export function withKubeHooks(provider: Provider, hooks: ProviderHooks): Provider {
  const report = (call: string, err: unknown) => {
    if (err instanceof Error) hooks.onError?.(call, err);
  };
  return new Proxy(provider, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      const call = (...args: unknown[]): unknown => {
        const out = (v as (...a: unknown[]) => unknown).apply(target, args);
        return out instanceof Promise
          ? out.catch((err: unknown) => (report(prop, err), Promise.reject(err)))
          : out;
      };
      if (prop !== 'attachInterface' || !hooks.placement) return call;
      return async (req: AttachRequest) => {
        const place = await hooks.placement!();
        const placed: AttachRequest = place
          ? {
              ...req,
              subnetId: place.subnet,
              securityGroups: place.securityGroups.length ? place.securityGroups : req.securityGroups,
            }
          : req;
        return call(placed);
      };
    },
  });
}
