#!/usr/bin/env bash
# Builds the Kubernetes end-to-end test binary (e2e.test, k8s.io/kubernetes/test/e2e) and the agnhost test
# server (k8s.io/kubernetes/test/images/agnhost) of the same Kubernetes version into the same cache as
# scripts/k8s/build.sh:  $TIDEPOOL_K8S_CACHE/v$K8S_VERSION/bin/{e2e.test,agnhost}, stamp .../.complete-e2e
# (written last), the times appended to .../build-times.txt.
# Its wrapper module (src/e2e) requires k8s.io/kubernetes with the same replace block as build.sh's
# (generated the same way), so the dependencies resolve to the same versions and compile from the same
# GOCACHE; only the test-only modules are added. e2e.test is a `go test -c` binary: -vet=off, or go vet
# walks the whole dependency graph after the link (minutes), and the version ldflags so the framework
# reports v$K8S_VERSION. Idempotent (a binary present is not rebuilt); it needs build.sh's cache to be cheap.
# Usage: scripts/k8s/build-e2e.sh
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-1.37.2}
CACHE=${TIDEPOOL_K8S_CACHE:-/var/cache/tidepool/k8s}
DIR=$CACHE/v$K8S_VERSION
BIN=$DIR/bin
log() { printf '[k8s-e2e-build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
mkdir -p "$BIN" "$DIR/src/e2e" "$CACHE/go/mod" "$CACHE/go/build"
exec 9>"$DIR/.lock"
flock 9
if [ -f "$DIR/.complete-e2e" ] && [ -x "$BIN/e2e.test" ] && [ -x "$BIN/agnhost" ]; then
  exit 0
fi
export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
START=$(date +%s)
step() { # step NAME SECONDS_SINCE
  log "$1 done in $(($(date +%s) - $2)) s"
  printf '%s %s\n' "$1" "$(($(date +%s) - $2))" >>"$DIR/build-times.txt"
}
minor=${K8S_VERSION#*.}
minor=${minor%%.*}
w=$DIR/src/e2e
if [ ! -f "$w/go.sum" ] || [ ! -f "$w/tools.go" ]; then
  t=$(date +%s)
  gomod=$(cd /tmp && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -f "$gomod" ] || { log "go mod download k8s.io/kubernetes@v$K8S_VERSION gave no go.mod"; exit 1; }
  {
    printf 'module tidepool.local/k8se2e\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
    sed -n '/^replace (/,/^)/p' "$gomod" | awk '$2 == "=>" && $3 ~ /^\.\/staging/ {print $1}' |
      grep -v -e sample-cli-plugin -e sample-controller |
      while read -r m; do printf '\t%s => %s v0.%s\n' "$m" "$m" "${K8S_VERSION#*.}"; done
    printf ')\n'
  } >"$w/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/test/e2e"\n\t_ "k8s.io/kubernetes/test/images/agnhost"\n)\n' \
    >"$w/tools.go.tmp"
  mv "$w/tools.go.tmp" "$w/tools.go"
  (cd "$w" && go mod tidy)
  step "e2e go mod tidy" "$t"
fi
if [ ! -x "$BIN/agnhost" ]; then
  t=$(date +%s)
  (cd "$w" && go build -trimpath -ldflags "-s -w" -o "$BIN/agnhost.tmp" k8s.io/kubernetes/test/images/agnhost)
  mv "$BIN/agnhost.tmp" "$BIN/agnhost"
  step agnhost "$t"
fi
if [ ! -x "$BIN/e2e.test" ]; then
  t=$(date +%s)
  LD="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
  LD="$LD -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  LD="$LD -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z"
  LD="$LD -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
  (cd "$w" && go test -c -vet=off -trimpath -ldflags "$LD" -o "$BIN/e2e.test.tmp" k8s.io/kubernetes/test/e2e)
  mv "$BIN/e2e.test.tmp" "$BIN/e2e.test"
  step e2e.test "$t"
fi
# Read whole, then matched (a `| grep -q` under pipefail can fail on SIGPIPE; see build.sh).
e2e_help=$("$BIN/e2e.test" --help 2>&1 || true)
[[ $e2e_help == *-provider* ]] || { log "e2e.test does not run"; exit 1; }
printf 'e2e.test agnhost k8s v%s built %s\n' "$K8S_VERSION" "$(date -u +%FT%TZ)" >"$DIR/.complete-e2e"
log "complete in $(($(date +%s) - START)) s: $BIN/e2e.test $BIN/agnhost"
