#!/usr/bin/env bash
# npm run bench -- <name>: runs test/bench/<name>.bench.ts, which prints `BENCH <name> <value> <unit>` lines.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-}"
if [ -z "$name" ] || [ ! -f "test/bench/$name.bench.ts" ]; then
  echo "usage: npm run bench -- <name>   (one of: $(ls test/bench/*.bench.ts 2>/dev/null | xargs -n1 basename | sed 's/.bench.ts//' | tr '\n' ' '))" >&2
  exit 2
fi
shift
bash scripts/setup.sh
ROOT=$PWD
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh
npm run --silent build
export GOBIN="$PWD/.cache/gobin"
export PATH="$GOBIN:$PATH"
# The bench runs in a network namespace of its own with only loopback (scripts/isolated.sh).
exec bash scripts/isolated.sh node --import tsx "test/bench/$name.bench.ts" "$@"
