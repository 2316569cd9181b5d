// `tidepoolctl config check`: validates the environment exactly as the daemon does at start, so an operator
// can check a manifest's settings before rolling it out.
import { ConfigError, loadSettings } from '../config/settings.js';
import type { Io } from './io.js';

export function runConfigCheck(io: Io): number {
  try {
    const s = loadSettings(io.env);
    io.out('configuration is valid');
    io.out(
      `  provider ${s.cloud.provider}, policy ${s.pool.policy}, ` +
        (s.pool.prefixDelegation
          ? `prefix delegation (WARM_PREFIX_TARGET=${s.pool.warmPrefixTarget})`
          : 'secondary IPs') +
        `, WARM_ENI_TARGET=${s.pool.warmEniTarget} WARM_IP_TARGET=${s.pool.warmIpTarget} ` +
        `MINIMUM_IP_TARGET=${s.pool.minimumIpTarget} MAX_ENI=${s.pool.maxEni}`,
    );
    io.out(`  socket ${s.daemon.socket}, state ${s.daemon.stateDir}, pod MTU ${s.network.podMtu}`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(err.message);
    return 2;
  }
}
