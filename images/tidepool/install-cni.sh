#!/bin/sh
# The DaemonSet's init container: installs the self-contained CNI plugin into the node's CNI bin directory
# (a copy then a rename, so a runtime never runs a half-written plugin), sets the two sysctls the daemon
# needs in the node's network namespace (the main container is not privileged and cannot write /proc/sys),
# and, with INSTALL_CONFLIST=true, writes the conflist (otherwise the daemon writes it once it can serve).
set -eu
bin=${CNI_BIN_DIR:-/host/cni/bin}
conf=${CNI_CONF_DIR:-/host/cni/net.d}
mkdir -p "$bin" "$conf"
cp /app/dist/bin/tidepool "$bin/.tidepool.tmp"
chmod 0755 "$bin/.tidepool.tmp"
mv -f "$bin/.tidepool.tmp" "$bin/tidepool"
echo "installed $bin/tidepool"
primary=${TIDEPOOL_PRIMARY_INTERFACE:-}
if [ -z "$primary" ]; then
  primary=$(ip -4 route show default | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)
fi
[ -n "$primary" ] || primary=eth0
echo 1 >/proc/sys/net/ipv4/ip_forward
if [ -e "/proc/sys/net/ipv4/conf/$primary/rp_filter" ]; then
  echo 2 >"/proc/sys/net/ipv4/conf/$primary/rp_filter"
fi
echo "net.ipv4.ip_forward=1 net.ipv4.conf.$primary.rp_filter=2"
if [ "${INSTALL_CONFLIST:-false}" = "true" ]; then
  name=${CONFLIST_NAME:-10-tidepool.conflist}
  cp "/etc/tidepool/cni/$name" "$conf/.$name.tmp"
  mv -f "$conf/.$name.tmp" "$conf/$name"
  echo "installed $conf/$name"
fi
