// The CNI network configuration list the daemon installs into the host's CNI configuration directory
// (/etc/cni/net.d) once its pool can serve (ipamd/kube/conflist.ts writes it). cniVersion 1.1.0 lets a
// runtime that speaks CNI 1.1 (containerd 2.x, CRI-O) ask the plugin STATUS; 1.0.0 is for runtimes whose
// libcni is older (containerd 1.6) and for chained plugins that speak at most 1.0.0 (Debian 12's portmap).
import type { Settings } from './settings.js';

export const NETWORK_NAME = 'tidepool';

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export function renderConflist(s: Pick<Settings, 'network' | 'daemon' | 'kube'>): Conflist {
  const plugins: Record<string, unknown>[] = [
    {
      type: 'tidepool',
      socket: s.daemon.socket,
      mtu: s.network.podMtu,
      vethPrefix: s.network.vethPrefix,
      logFile: s.daemon.pluginLogFile,
      logLevel: s.daemon.pluginLogLevel,
      statusGraceSeconds: s.kube.statusGraceSeconds,
    },
  ];
  if (s.kube.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
  return { cniVersion: s.kube.cniVersion, name: NETWORK_NAME, plugins };
}
