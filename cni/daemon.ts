// The daemon calls the commands make, with the daemon's failures turned into CNI errors: an unreachable
// daemon, a missed deadline, an exhausted or parked-too-long pool are "try again later" (11); a refused
// request names the variable it came from (4); anything else is a daemon failure (101).
import { DaemonUnreachableError, DeadlineExceededError, GrpcStatus, GrpcStatusError } from './client.js';
import { DEADLINE, type Context } from './context.js';
import { CniError, ErrorCode } from './errors.js';
import type * as msg from '../proto/messages.js';

export function daemonError(err: unknown, what: string): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof DaemonUnreachableError || err instanceof DeadlineExceededError)
    return new CniError(ErrorCode.TryAgainLater, `${what}: ${err.message}`);
  if (err instanceof GrpcStatusError) {
    const transient: number[] = [
      GrpcStatus.UNAVAILABLE,
      GrpcStatus.RESOURCE_EXHAUSTED,
      GrpcStatus.DEADLINE_EXCEEDED,
    ];
    if (transient.includes(err.status))
      return new CniError(ErrorCode.TryAgainLater, `${what}: ${err.details}`);
    if (err.status === 3) return new CniError(ErrorCode.InvalidEnvironment, `${what}: ${err.details}`);
    return new CniError(ErrorCode.DaemonFailure, `${what}: ${err.details}`, `gRPC status ${err.status}`);
  }
  return new CniError(ErrorCode.DaemonFailure, `${what}: ${(err as Error).message}`);
}

export const isUnreachable = (err: unknown) =>
  err instanceof DaemonUnreachableError || err instanceof DeadlineExceededError;

const key = (ctx: Context) => ({
  network: ctx.conf.name,
  containerId: ctx.env.containerId,
  ifname: ctx.env.ifname,
});

export async function allocate(ctx: Context): Promise<msg.AllocateResponse> {
  const a = ctx.env.args;
  try {
    return await ctx.client.call(
      'Allocate',
      { ...key(ctx), netns: ctx.env.netns, podNamespace: a.namespace, podName: a.name, podUid: a.uid },
      DEADLINE.allocate,
    );
  } catch (err) {
    throw daemonError(err, 'cannot allocate an address');
  }
}

export async function release(ctx: Context, reason: string): Promise<msg.ReleaseResponse> {
  try {
    return await ctx.client.call('Release', { ...key(ctx), reason }, DEADLINE.release);
  } catch (err) {
    throw isUnreachable(err) ? err : daemonError(err, 'cannot release the address');
  }
}

export async function check(ctx: Context): Promise<msg.CheckResponse> {
  try {
    return await ctx.client.call('Check', key(ctx), DEADLINE.check);
  } catch (err) {
    throw daemonError(err, 'cannot check the allocation');
  }
}
