// Injectable faults. Per action: fail the next N calls, and/or fail each call with a probability.
// `when: 'after'` makes the call take effect and then fail (the reply is lost, as on a timeout), which is
// how a caller's idempotency and crash repair get exercised.

import { CloudError, InUseError, ThrottledError, TransientError, UnauthorizedError } from '../errors.js';
import type { Ec2Action } from './actions.js';
import type { SeededRandom } from './random.js';

export type FaultKind = 'transient' | 'throttle' | 'unauthorized' | 'in-use' | 'internal';

export interface FaultSpec {
  /** Probability in [0, 1] that a call fails. */
  probability?: number;
  /** Fail the next N calls (counted down as they fail). */
  next?: number;
  /** Error to raise; default 'transient'. */
  error?: FaultKind;
  /** 'before' (default): the call has no effect. 'after': the effect happens, then the reply fails. */
  when?: 'before' | 'after';
}

export type FaultPlan = Partial<Record<Ec2Action, FaultSpec>>;

export function validateFaults(plan: unknown): FaultPlan {
  if (typeof plan !== 'object' || plan === null) throw new Error('faults: expected an object action → spec');
  for (const [action, spec] of Object.entries(plan as Record<string, FaultSpec>)) {
    if (typeof spec !== 'object' || spec === null) throw new Error(`faults.${action}: expected an object`);
    const p = spec.probability;
    if (p !== undefined && !(typeof p === 'number' && p >= 0 && p <= 1)) {
      throw new Error(`faults.${action}.probability: expected a number in [0, 1], got ${String(p)}`);
    }
    const n = spec.next;
    if (n !== undefined && !(Number.isInteger(n) && n >= 0)) {
      throw new Error(`faults.${action}.next: expected a non-negative integer, got ${String(n)}`);
    }
    if (
      spec.error !== undefined &&
      !['transient', 'throttle', 'unauthorized', 'in-use', 'internal'].includes(spec.error)
    ) {
      throw new Error(`faults.${action}.error: unknown kind ${String(spec.error)}`);
    }
    if (spec.when !== undefined && spec.when !== 'before' && spec.when !== 'after') {
      throw new Error(`faults.${action}.when: expected 'before' or 'after'`);
    }
  }
  // A copy: `next` counts down as faults fire, and the caller's object should not change under it.
  return structuredClone(plan) as FaultPlan;
}

/** Decides whether this call of `action` fails; counts down `next`. Returns the fault or undefined. */
export function drawFault(plan: FaultPlan, action: Ec2Action, rng: SeededRandom): FaultSpec | undefined {
  const spec = plan[action];
  if (!spec) return undefined;
  if (spec.next && spec.next > 0) {
    spec.next -= 1;
    return spec;
  }
  if (spec.probability && rng.next() < spec.probability) return spec;
  return undefined;
}

export function faultError(spec: FaultSpec, action: Ec2Action): CloudError {
  const msg = `injected fault on ${action}`;
  switch (spec.error ?? 'transient') {
    case 'throttle':
      return new ThrottledError(`${msg}: Request limit exceeded.`, 'RequestLimitExceeded', action);
    case 'unauthorized':
      return new UnauthorizedError(
        `${msg}: You are not authorized to perform this operation.`,
        'UnauthorizedOperation',
        action,
      );
    case 'in-use':
      return new InUseError(`${msg}: the resource is in use`, 'InvalidNetworkInterface.InUse', action);
    case 'internal':
      return new TransientError(`${msg}: An internal error has occurred.`, 'InternalError', action);
    default:
      return new TransientError(`${msg}: the service is unavailable`, 'ServiceUnavailable', action);
  }
}
