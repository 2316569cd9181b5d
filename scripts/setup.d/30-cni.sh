# CNI plugin e2e tests and benchmark: the reference plugins chained after ours must be there
# (Debian package containernetworking-plugins, installed by setup.sh). The static pause image for containerd
# is built on first use into .cache/pause by the test harness (images/pause/build.ts).
for p in loopback portmap bandwidth ptp host-local; do
  [ -x "/usr/lib/cni/$p" ] || { log "missing /usr/lib/cni/$p (package containernetworking-plugins)"; exit 1; }
done
