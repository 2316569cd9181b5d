#!/usr/bin/env bash
# npm run demo: installs what is missing, builds, and runs the one-machine demo (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "tidepool demo: must run as root (it creates network namespaces, veth pairs and nftables tables)" >&2
  exit 77
fi
bash scripts/setup.sh
ROOT=$PWD
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh
npm run --silent build
exec node dist/bin/tidepoolctl demo "$@"
