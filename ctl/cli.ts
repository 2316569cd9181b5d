// tidepoolctl: the operator's command line. `status`, `max-pods`, `config check`, and the `lab` and `demo`
// commands of the lab and demo modules.
import { runConfigCheck } from './config-check.js';
import { EXTERNAL_COMMANDS, runExternal } from './external.js';
import { UsageError, type Io } from './io.js';
import { runMaxPods } from './max-pods.js';
import { runStatus } from './status.js';

export const HELP = `tidepoolctl — operate Tidepool, the VPC-native CNI

Usage:
  tidepoolctl status [--addr HOST:PORT] [--json]
      The node's address pool and allocations, read from the daemon's introspection endpoint
      (default TIDEPOOL_INTROSPECTION_ADDR or 127.0.0.1:61679): totals, then one table per interface.
  tidepoolctl max-pods <instance-type> [--prefix-delegation] [--max-eni N] [--explain]
      The kubelet max-pods value for an instance type: ENIs × (IPv4 per ENI − 1) + 2, or the /28 prefix
      variant capped at 110 (≤ 30 vCPUs) or 250.
  tidepoolctl config check
      Validate the environment exactly as tidepool-ipamd does at start; lists every invalid variable.
  tidepoolctl lab …      The one-machine lab (see tidepoolctl lab --help).
  tidepoolctl demo …     The local demo (see tidepoolctl demo --help).
  tidepoolctl --help

Exit codes: 0 success, 1 failure (e.g. the daemon is unreachable), 2 bad usage or invalid configuration.`;

export async function runCtl(argv: string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        io.out(HELP);
        return cmd === undefined ? 2 : 0;
      case 'status':
        return await runStatus(rest, io);
      case 'max-pods':
        return runMaxPods(rest, io);
      case 'config':
        if (rest[0] !== 'check' || rest.length > 1) throw new UsageError('usage: tidepoolctl config check');
        return runConfigCheck(io);
      default:
        if (EXTERNAL_COMMANDS.includes(cmd)) return await runExternal(cmd, rest, io);
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`tidepoolctl: ${err.message}`);
    io.err('run tidepoolctl --help for usage');
    return 2;
  }
}
