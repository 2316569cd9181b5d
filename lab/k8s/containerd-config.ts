// The config.toml (version 2) of a containerd that runs pods beside others on one machine: its own root,
// state, sockets and runc root under one directory; the CRI with the project's pause image,
// restrict_oom_score_adj (containerd 1.6 runs sandboxes that way here), its streaming server on loopback
// only, and the CNI directories given. Used by the cluster lab's nodes and by the CRI tests' containerd.

import { PAUSE_IMAGE } from '../../images/pause/build.js';

export interface ContainerdConfigOptions {
  /** Directory for root/, state/, runc/ and opt/. */
  dir: string;
  socket: string;
  cniBinDir: string;
  cniConfDir: string;
  /** containerd 2.x: NRI is on by default, with its socket at a fixed path (/var/run/nri/nri.sock). */
  disableNri?: boolean;
}

export function containerdConfig(o: ContainerdConfigOptions): string {
  const nri = o.disableNri ? '[plugins."io.containerd.nri.v1.nri"]\n  disable = true\n' : '';
  return `version = 2
root = "${o.dir}/root"
state = "${o.dir}/state"
[grpc]
  address = "${o.socket}"
[ttrpc]
  address = "${o.socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${o.cniBinDir}"
    conf_dir = "${o.cniConfDir}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "${o.dir}/runc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${o.dir}/opt"
${nri}`;
}
