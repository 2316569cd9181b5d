# The demo and the datapath benchmark: ping (iputils-ping) for round-trip times and the demo's cross-node check.
# iperf3 and iproute2 come from setup.sh's list.
if ! command -v ping >/dev/null 2>&1; then
  need_root "apt-get install iputils-ping"
  log "apt-get install iputils-ping"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iputils-ping >/dev/null
fi
