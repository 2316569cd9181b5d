// The CNI network configuration the lab hands the plugin, rendered from the daemon's settings (the same
// environment the node's daemon gets), as a runtime would read it from /etc/cni/net.d.
import { loadSettings, type Env } from '../config/settings.js';

export const NETWORK_NAME = 'tidepool';
export const CNI_VERSION = '1.1.0';

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export function renderConflist(env: Env, socket: string, logFile: string): Conflist {
  const s = loadSettings(env);
  return {
    cniVersion: CNI_VERSION,
    name: NETWORK_NAME,
    plugins: [
      {
        type: 'tidepool',
        socket,
        mtu: s.network.podMtu,
        vethPrefix: s.network.vethPrefix,
        logFile,
        logLevel: 'debug',
      },
    ],
  };
}

/** What a runtime sends a plugin of the list on stdin: the plugin entry plus cniVersion and name. */
export function pluginConfig(list: Conflist, index = 0, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...list.plugins[index], ...extra });
}
