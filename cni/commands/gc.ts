// GC (CNI 1.1): release every allocation of this network that is not in the runtime's list of valid
// attachments, and remove the host routes and rules of the released addresses (and their veth, when one
// still carries the address). Without a list (cnitool v1.3.0 `gc` sends none) validity is unknown, and
// releasing everything would cut every pod off: nothing is released. GC works in the plugin's own (host)
// namespace only, where the host ends live, and removes no link but a host veth with Tidepool's name.
import { DEADLINE, type Context } from '../context.js';
import { daemonError } from '../daemon.js';
import { hostRoutes32 } from '../datapath/procnet.js';
import { tearDownHost } from '../datapath/pod.js';
import { isTidepoolVeth } from '../../proto/veth-name.js';
import { isIPv4 } from '../ipaddr.js';

export async function cmdGc(ctx: Context): Promise<void> {
  const { conf, log } = ctx;
  if (conf.validAttachments === null) {
    log.info('GC without a list of valid attachments: nothing released');
    return;
  }
  let released: string[];
  try {
    ({ released } = await ctx.client.call(
      'Gc',
      { network: conf.name, valid: conf.validAttachments },
      DEADLINE.gc,
    ));
  } catch (err) {
    throw daemonError(err, 'cannot collect stale allocations');
  }
  log.info('GC released stale allocations', { released, valid: conf.validAttachments.length });
  const addresses = released.filter(isIPv4);
  if (addresses.length === 0) return;
  const routes = hostRoutes32();
  const veths = addresses
    .map((a) => routes.get(a))
    .filter((d): d is string => !!d && isTidepoolVeth(conf.vethPrefix, d));
  await tearDownHost(addresses, veths);
}
