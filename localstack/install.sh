#!/usr/bin/env bash
# Installs the pinned LocalStack (localstack-core 4.14.0, host mode) into localstack/.venv. Idempotent:
# returns at once when the venv already imports that version with the same constraints. If 4.14.0
# cannot be installed or imported, installs moto's server instead (the EC2 engine LocalStack delegates
# ENI calls to) and records that in localstack/.venv/BACKEND, saying so loudly.
set -euo pipefail
source "$(dirname "$0")/env.sh"
STAMP="$LS_VENV/.installed"
want="$LS_VERSION $(sha256sum "$LS_ROOT/localstack/constraints.txt" | cut -c1-16)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$LS_VENV/bin/python" ]; then
  exit 0
fi
start=$(date +%s)
echo "localstack: installing localstack-core[runtime]==$LS_VERSION into $LS_VENV (a few minutes on a fresh machine)" >&2
[ -x "$LS_VENV/bin/python" ] || python3 -m venv "$LS_VENV"
PIP=("$LS_VENV/bin/pip" install --quiet --disable-pip-version-check)
if "${PIP[@]}" -c "$LS_ROOT/localstack/constraints.txt" "localstack-core[runtime]==$LS_VERSION" >&2 \
  && "$LS_VENV/bin/python" -c 'import localstack.aws.components, localstack.runtime.main' 2>/dev/null; then
  echo localstack > "$LS_VENV/BACKEND"
else
  echo "localstack: WARNING: localstack-core $LS_VERSION does not install/import here; falling back to moto[server] (moto_server)" >&2
  "${PIP[@]}" "moto[ec2,server]==5.2.5" >&2
  echo moto > "$LS_VENV/BACKEND"
fi
echo "$want" > "$STAMP"
echo "localstack: installed ($(cat "$LS_VENV/BACKEND")) in $(( $(date +%s) - start )) s" >&2
