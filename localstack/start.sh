#!/usr/bin/env bash
# Starts LocalStack (EC2 only) on 127.0.0.1:$LOCALSTACK_PORT (default 4566) in the background and waits
# until EC2 answers. Does nothing when something healthy already listens there. Prints the endpoint URL.
# Its pid file and log live in .cache/localstack/<port>/; localstack/stop.sh stops it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
healthy() {
  if [ "$LS_BACKEND" = moto ]; then curl -sf -o /dev/null "$LS_URL/moto-api/"; return; fi
  curl -sf "$LS_URL/_localstack/health" 2>/dev/null | grep -Eq '"ec2": *"(available|running)"'
}
if healthy; then echo "$LS_URL"; exit 0; fi
bash "$LS_ROOT/localstack/install.sh"
LS_BACKEND="$(cat "$LS_VENV/BACKEND")"
mkdir -p "$LS_STATE/fs"
if [ -f "$LS_STATE/pid" ] && kill -0 "$(cat "$LS_STATE/pid")" 2>/dev/null; then
  echo "localstack: pid $(cat "$LS_STATE/pid") is starting already; waiting" >&2
else
  cd "$LS_STATE"
  if [ "$LS_BACKEND" = moto ]; then
    setsid "$LS_VENV/bin/moto_server" -H "$LS_HOST" -p "$LS_PORT" >"$LS_STATE/log" 2>&1 < /dev/null &
  else
    # Host mode: no DNS server, no certificate download, no telemetry; files under .cache, not /var/lib.
    setsid env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$LS_STATE/fs" SERVICES=ec2 EAGER_SERVICE_LOADING=1 \
      GATEWAY_LISTEN="$LS_HOST:$LS_PORT" LOCALSTACK_HOST="$LS_HOST:$LS_PORT" DNS_ADDRESS=0 \
      SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 LOCALSTACK_TELEMETRY_DISABLED=1 DEBUG="${LOCALSTACK_DEBUG:-0}" \
      "$LS_VENV/bin/python" -m localstack.runtime.main >"$LS_STATE/log" 2>&1 < /dev/null &
  fi
  echo $! > "$LS_STATE/pid"
fi
for _ in $(seq 1 240); do
  if healthy; then echo "$LS_URL"; exit 0; fi
  if ! kill -0 "$(cat "$LS_STATE/pid")" 2>/dev/null; then
    echo "localstack: exited during start; last lines of $LS_STATE/log:" >&2
    tail -20 "$LS_STATE/log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "localstack: not healthy after 120 s; see $LS_STATE/log" >&2
exit 1
