# CNI plugin e2e tests and benchmark: Debian's portmap needs iptables (nft backend), the test harness reads
# the daemon's introspection with curl inside a namespace; gcc/libc6-dev (setup.sh) build the static pause
# image, which the containerd harness builds on first use into .cache/pause (test/helpers/pause-image.ts).
cni_debs=()
command -v iptables >/dev/null 2>&1 || cni_debs+=(iptables)
command -v curl >/dev/null 2>&1 || cni_debs+=(curl)
command -v strip >/dev/null 2>&1 || cni_debs+=(binutils)
if [ ${#cni_debs[@]} -gt 0 ]; then
  need_root "apt-get install ${cni_debs[*]}"
  log "apt-get install ${cni_debs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${cni_debs[@]}" >/dev/null
fi
for p in loopback portmap bandwidth ptp host-local; do
  [ -x "/usr/lib/cni/$p" ] || { log "missing /usr/lib/cni/$p (package containernetworking-plugins)"; exit 1; }
done
