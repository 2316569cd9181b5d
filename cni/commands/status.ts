// STATUS (CNI 1.1): ready when the daemon answers and says it can hand out an address (now or after a
// cloud call). Otherwise code 50: ADD cannot be served. Code 51 (existing pods lose connectivity) is not
// used: the pod datapath lives in the kernel and keeps working while the daemon is down or not ready.
//
// A daemon that cannot be reached fails STATUS, except within statusGraceSeconds of its last "ready" beat
// (proto/ready-beat.ts: a file beside the socket the daemon rewrites every 2 s while it would answer ready,
// and leaves in place when it stops). A runtime that asks STATUS turns the whole node NotReady on one
// failure (containerd 2.x via the kubelet), and a node turning NotReady marks every pod on it NotReady, so
// Services drop them: the few seconds of a rolling restart of the daemon must not do that. New pods that
// land meanwhile wait in ADD's retries, as they would for any daemon restart.
import { readReadyBeat } from '../../proto/ready-beat.js';
import { DEADLINE, type Context } from '../context.js';
import { CniError, ErrorCode } from '../errors.js';

export async function cmdStatus(ctx: Context): Promise<void> {
  let status;
  try {
    status = await ctx.client.call('Status', {}, DEADLINE.status);
  } catch (err) {
    const beat = ctx.conf.statusGraceSeconds > 0 ? readReadyBeat(ctx.conf.socket) : null;
    const age = beat ? Date.now() - beat.at : Infinity;
    if (beat && age >= 0 && age <= ctx.conf.statusGraceSeconds * 1000) {
      ctx.log.info('ready: the daemon is not reachable, but was ready moments ago (restart grace)', {
        lastReadyMsAgo: age,
        graceSeconds: ctx.conf.statusGraceSeconds,
        error: (err as Error).message,
      });
      return;
    }
    throw new CniError(ErrorCode.NotAvailable, 'tidepool daemon is not available', (err as Error).message);
  }
  const pool = `free ${status.free}, assigned ${status.assigned}, cooling ${status.cooling}, capacity ${status.capacity}`;
  if (!status.ready)
    throw new CniError(ErrorCode.NotAvailable, `tidepool daemon is not ready: ${status.message}`, pool);
  ctx.log.info('ready', { pool });
}
