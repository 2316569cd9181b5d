// What every command receives from the dispatcher: the parsed config and environment, the state of the
// namespace CNI_NETNS names (checked once, for every command, by the dispatcher), the daemon client.
import type { DaemonClient } from './client.js';
import type { NetnsState } from './datapath/netns.js';
import type { CniEnv } from './env.js';
import type { Logger } from './log.js';
import type { NetConf } from './netconf.js';

export interface Context {
  conf: NetConf;
  env: CniEnv;
  /** null when no CNI_NETNS was given (DEL, GC, STATUS). */
  netns: NetnsState | null;
  client: DaemonClient;
  log: Logger;
}

/** Deadlines of daemon calls. An Allocate may be parked while the pool grows (TIDEPOOL_ADD_WAIT_MS). */
export const DEADLINE = {
  allocate: 120_000,
  release: 5_000,
  check: 5_000,
  gc: 30_000,
  status: 5_000,
  /** How long an operation waits for another one on the same attachment before answering "try again". */
  lock: 60_000,
} as const;
