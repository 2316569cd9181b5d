// STATUS (CNI 1.1): ready when the daemon answers and says it can hand out an address (now or after a
// cloud call). Otherwise code 50: ADD cannot be served. Code 51 (existing pods lose connectivity) is not
// used: the pod datapath lives in the kernel and keeps working while the daemon is down or not ready.
import { DEADLINE, type Context } from '../context.js';
import { CniError, ErrorCode } from '../errors.js';

export async function cmdStatus(ctx: Context): Promise<void> {
  let status;
  try {
    status = await ctx.client.call('Status', {}, DEADLINE.status);
  } catch (err) {
    throw new CniError(ErrorCode.NotAvailable, 'tidepool daemon is not available', (err as Error).message);
  }
  const pool = `free ${status.free}, assigned ${status.assigned}, cooling ${status.cooling}, capacity ${status.capacity}`;
  if (!status.ready)
    throw new CniError(ErrorCode.NotAvailable, `tidepool daemon is not ready: ${status.message}`, pool);
  ctx.log.info('ready', { pool });
}
