#!/usr/bin/env bash
# Builds containerd 2.x (github.com/containerd/containerd/v2: cmd/containerd and cmd/containerd-shim-runc-v2)
# from the Go module proxy into a cache outside the repo, for the investigation of CNI STATUS through a real
# CRI (deploy/README.md, "containerd 2.x and CNI STATUS"):
#   $TIDEPOOL_K8S_CACHE/containerd/v$CONTAINERD_VERSION/bin/{containerd,containerd-shim-runc-v2}, stamp .complete.
# Its go.mod has no replace directives, so `go build` of the module at that version works directly.
# CGO_ENABLED=0 leaves out the btrfs snapshotter (cgo only); overlayfs, the one used here, is pure Go.
# Not part of setup: Debian's containerd 1.6 is what the tests run; this is an opt-in build.
# Usage: scripts/k8s/build-containerd.sh [--print-bin]
set -euo pipefail
CONTAINERD_VERSION=${CONTAINERD_VERSION:-2.4.2}
CACHE=${TIDEPOOL_K8S_CACHE:-/var/cache/tidepool/k8s}
DIR=$CACHE/containerd/v$CONTAINERD_VERSION
BIN=$DIR/bin
if [ "${1:-}" = "--print-bin" ]; then
  echo "$BIN"
  exit 0
fi
log() { printf '[containerd-build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
mkdir -p "$BIN" "$DIR/src" "$CACHE/go/mod" "$CACHE/go/build"
exec 9>"$DIR/.lock"
flock 9
[ -f "$DIR/.complete" ] && exit 0
export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
t=$(date +%s)
w=$DIR/src
printf 'module tidepool.local/containerdbin\n\ngo 1.26.6\n\nrequire github.com/containerd/containerd/v2 v%s\n' \
  "$CONTAINERD_VERSION" >"$w/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/containerd/containerd/v2/cmd/containerd"\n\t_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"\n)\n' \
  >"$w/tools.go"
(cd "$w" && go mod tidy)
LD="-s -w -X github.com/containerd/containerd/v2/version.Version=v$CONTAINERD_VERSION"
LD="$LD -X github.com/containerd/containerd/v2/version.Revision=proxy"
rm -rf "$w/out" && mkdir -p "$w/out"
(cd "$w" && go build -trimpath -ldflags "$LD" -o "$w/out/" github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2)
mv "$w/out/containerd" "$w/out/containerd-shim-runc-v2" "$BIN/"
"$BIN/containerd" --version
printf 'containerd %s %s\n' "v$CONTAINERD_VERSION" "$(($(date +%s) - t))" >>"$DIR/build-times.txt"
printf 'containerd v%s built %s in %s s\n' "$CONTAINERD_VERSION" "$(date -u +%FT%TZ)" "$(($(date +%s) - t))" \
  >"$DIR/.complete"
log "complete in $(($(date +%s) - t)) s: $BIN"
