// What every command receives from the dispatcher: the parsed config and environment, the daemon client.
import type { DaemonClient } from './client.js';
import type { CniEnv } from './env.js';
import type { Logger } from './log.js';
import type { NetConf } from './netconf.js';

export interface Context {
  conf: NetConf;
  env: CniEnv;
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
} as const;
