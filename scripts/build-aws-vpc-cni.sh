#!/usr/bin/env bash
# Builds the real AWS VPC CNI (aws-k8s-agent = its ipamd, routed-eni-cni-plugin installed as aws-cni,
# egress-cni-plugin installed as egress-cni) from the Go module proxy, pinned, into a cache OUTSIDE the repo
# keyed by version. A second run finds the binaries and returns at once.
#
# `go install pkg@version` refuses this module (its go.mod has replace directives), so the module is
# downloaded with `go mod download`, copied to a writable directory and built as the main module, with its own
# go.mod and go.sum (replace directives included). Nothing of it is committed or copied into the repo.
#
# Usage: scripts/build-aws-vpc-cni.sh            prints the binary directory on stdout
# Env:   AWS_VPC_CNI_VERSION (default v1.23.2), TIDEPOOL_CACHE (default /var/cache/tidepool)
set -euo pipefail
VERSION="${AWS_VPC_CNI_VERSION:-v1.23.2}"
MODULE=github.com/aws/amazon-vpc-cni-k8s
CACHE_ROOT="${TIDEPOOL_CACHE:-/var/cache/tidepool}"
OUT="$CACHE_ROOT/aws-vpc-cni-$VERSION"
BIN="$OUT/bin"
log() { printf '[build-aws-vpc-cni] %s\n' "$*" >&2; }

if [ -x "$BIN/aws-k8s-agent" ] && [ -x "$BIN/aws-cni" ] && [ -x "$BIN/egress-cni" ] && [ -f "$OUT/.complete" ]; then
  log "cached: $BIN ($(cat "$OUT/.complete"))"
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { log "go is not on PATH (the Go toolchain is needed to build $MODULE@$VERSION)"; exit 1; }
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
# Another run may have finished while this one waited for the lock.
if [ -f "$OUT/.complete" ] && [ -x "$BIN/aws-k8s-agent" ]; then echo "$BIN"; exit 0; fi

start=$(date +%s)
log "go mod download $MODULE@$VERSION"
dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] && [ -f "$dir/go.mod" ] || { log "go mod download gave no module directory for $MODULE@$VERSION"; exit 1; }
SRC="$OUT/src"
rm -rf "$SRC"
cp -a "$dir" "$SRC"
chmod -R u+w "$SRC"
# The version goes into pkg/version.Version (the awscni_build_info metric and the startup log) by its full
# import path; upstream's Makefile writes `-X pkg/version/info.Version`, which names no package and so sets
# nothing. (A build cached before this fix reports an empty version; its binaries are otherwise the same.)
log "go build (as the main module, its own go.mod with replace directives) in $SRC"
mkdir -p "$OUT/build"
(cd "$SRC" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X $MODULE/pkg/version.Version=$VERSION" \
  -o "$OUT/build/" ./cmd/aws-k8s-agent ./cmd/routed-eni-cni-plugin ./cmd/egress-cni-plugin)
mkdir -p "$BIN"
mv "$OUT/build/aws-k8s-agent" "$BIN/aws-k8s-agent"
mv "$OUT/build/routed-eni-cni-plugin" "$BIN/aws-cni"
mv "$OUT/build/egress-cni-plugin" "$BIN/egress-cni"
rmdir "$OUT/build" 2>/dev/null || true
rm -rf "$SRC"
secs=$(($(date +%s) - start))
echo "$VERSION built in ${secs}s on $(date -u +%FT%TZ)" >"$OUT/.complete"
log "built $MODULE@$VERSION in ${secs}s (first build; later runs use $BIN)"
echo "BUILD aws-vpc-cni-first-build ${secs} s" >&2
echo "$BIN"
