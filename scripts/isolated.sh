#!/usr/bin/env bash
# Runs a command inside a network namespace of its own that has nothing but loopback: no link to the
# machine's interfaces, no route out. The test and bench commands run everything through it, so nothing a
# test starts (daemons, plugins, LocalStack, the ARM and IMDS doubles, a control plane, the lab) can reach
# or change the machine's own network, even by mistake; the namespaces the tests make come on top of it.
# 127.0.0.1 inside is this namespace's loopback, not the machine's. The namespace dies with the command.
# Usage: scripts/isolated.sh COMMAND [ARG...]
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: scripts/isolated.sh COMMAND [ARG...]" >&2; exit 2; }
exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' isolated "$@"
