#!/usr/bin/env bash
# Stops the LocalStack that localstack/start.sh started on $LOCALSTACK_PORT (its whole process group).
set -euo pipefail
source "$(dirname "$0")/env.sh"
pidfile="$LS_STATE/pid"
[ -f "$pidfile" ] || exit 0
pid="$(cat "$pidfile")"
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  # LocalStack's twisted shutdown sometimes hangs; the state is in memory, nothing to lose.
  kill -KILL -- "-$pid" 2>/dev/null || true
fi
rm -f "$pidfile"
