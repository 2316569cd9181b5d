#!/usr/bin/env bash
# The one command that installs everything and runs every test (the README's test command is `npm test`).
# Tests that build network namespaces need root; CI runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ROOT=$PWD
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh
npm run --silent build
npx eslint . >/dev/null || { npx eslint .; exit 1; }
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
export GOBIN="$PWD/.cache/gobin"
export PATH="$GOBIN:$PATH"
echo "tidepool tests: node $(node --version) ($(command -v node))"
# Every test runs in a network namespace of its own with only loopback (scripts/isolated.sh).
NODE_OPTIONS=--experimental-vm-modules bash scripts/isolated.sh npx jest --maxWorkers=2 "$@"
