#!/usr/bin/env bash
# Installs everything Tidepool's build, tests, benchmarks and demo need on a fresh Debian 12 machine.
# Idempotent: each step checks first, so a second run costs a few seconds.
# Steps specific to one part of the project live in scripts/setup.d/*.sh (sourced in order).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export ROOT

log() { printf '[setup] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "this step needs root: $*"
    exit 1
  fi
}

# Debian packages: the kernel tools, the CNI reference plugins, a real container runtime, iperf3.
# iptables: Debian's portmap plugin (nft backend); socat, ping, curl: the lab's and the tests' traffic tools;
# gcc, libc6-dev, binutils: the static pause image for containerd and the plugin's addon; python3-venv:
# LocalStack's virtualenv (and python3, which also runs the benchmarks' at-once launcher).
DEBS=(iproute2 nftables iptables util-linux procps psmisc containerd runc containernetworking-plugins iperf3
  socat iputils-ping curl gcc libc6-dev binutils python3-venv)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  need_root "apt-get install ${missing[*]}"
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's containerd package starts a system containerd; tests run their own instance on their own socket.

# npm packages, exactly as locked.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  # shellcheck disable=SC1090
  source "$step"
done
log "ready"
