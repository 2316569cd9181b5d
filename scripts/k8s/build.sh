#!/usr/bin/env bash
# Builds the real Kubernetes components the cluster lab and the Kubernetes tests run, from the Go module
# proxy, into a cache outside the repo keyed by version:
#   $TIDEPOOL_K8S_CACHE/v$K8S_VERSION/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,
#   kubectl,etcd,helm,crictl}  and the stamp  .../v$K8S_VERSION/.complete  (written last).
# k8s.io/kubernetes replaces its staging modules with ./staging/... paths, so it cannot be `go install`ed;
# a small wrapper module requires it and pins every replaced module to the matching v0.x release (the list
# is generated from the upstream go.mod, so a version bump is one edit). etcd's go.mod has replace
# directives too, so it gets a wrapper of its own; helm and crictl install directly.
# Idempotent: a binary already present is not rebuilt; the first build on a 2-core machine took 59 min (loaded)
# (kube-apiserver alone ~19 min), a run with everything present takes well under a second.
# Usage: scripts/k8s/build.sh [--print-bin]   (the module and build caches live under $TIDEPOOL_K8S_CACHE/go)
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
HELM_VERSION=${HELM_VERSION:-3.22.0}
CRICTL_VERSION=${CRICTL_VERSION:-1.37.0}
CACHE=${TIDEPOOL_K8S_CACHE:-/var/cache/tidepool/k8s}
DIR=$CACHE/v$K8S_VERSION
BIN=$DIR/bin
if [ "${1:-}" = "--print-bin" ]; then
  echo "$BIN"
  exit 0
fi
log() { printf '[k8s-build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
mkdir -p "$BIN" "$DIR/src" "$CACHE/go/mod" "$CACHE/go/build"
# One build at a time (setup may run in several worktrees at once); the others wait for it.
exec 9>"$DIR/.lock"
flock 9
if [ -f "$DIR/.complete" ]; then
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

# etcd v3 server (module root is package main).
if [ ! -x "$BIN/etcd" ]; then
  t=$(date +%s)
  w=$DIR/src/etcd
  mkdir -p "$w"
  cat >"$w/go.mod" <<MOD
module tidepool.local/etcdbin

go 1.24

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
MOD
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$w/tools.go"
  (cd "$w" && go mod tidy >/dev/null 2>&1 || go mod tidy)
  (cd "$w" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  step etcd "$t"
fi

# Kubernetes components, in one `go build` so the shared packages compile once.
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
need=()
for c in "${K8S_CMDS[@]}"; do [ -x "$BIN/$c" ] || need+=("$c"); done
if [ ${#need[@]} -gt 0 ]; then
  t=$(date +%s)
  w=$DIR/src/kubernetes
  mkdir -p "$w"
  gomod=$(cd /tmp && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -f "$gomod" ] || { log "go mod download k8s.io/kubernetes@v$K8S_VERSION gave no go.mod"; exit 1; }
  {
    printf 'module tidepool.local/k8sbin\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
    # Every module kubernetes replaces with ./staging/... is published at v0.<minor>.<patch>; the two
    # sample modules are not published and not required.
    sed -n '/^replace (/,/^)/p' "$gomod" | awk '$2 == "=>" && $3 ~ /^\.\/staging/ {print $1}' |
      grep -v -e sample-cli-plugin -e sample-controller |
      while read -r m; do printf '\t%s => %s v0.%s\n' "$m" "$m" "${K8S_VERSION#*.}"; done
    printf ')\n'
  } >"$w/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for c in "${K8S_CMDS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    printf ')\n'
  } >"$w/tools.go"
  (cd "$w" && go mod tidy)
  step "kubernetes go mod tidy" "$t"
  LD="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
  LD="$LD -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  LD="$LD -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z"
  LD="$LD -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
  pkgs=()
  for c in "${need[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  tmp=$DIR/src/out
  rm -rf "$tmp" && mkdir -p "$tmp"
  (cd "$w" && go build -trimpath -ldflags "$LD" -o "$tmp/" "${pkgs[@]}")
  for c in "${need[@]}"; do mv "$tmp/$c" "$BIN/$c"; done
  step "kubernetes ${need[*]}" "$t"
fi

# helm and crictl: plain go install (no replace directives).
if [ ! -x "$BIN/helm" ]; then
  t=$(date +%s)
  (cd /tmp && GOBIN=$BIN go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION")
  step helm "$t"
fi
if [ ! -x "$BIN/crictl" ]; then
  t=$(date +%s)
  (cd /tmp && GOBIN=$BIN go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION" "sigs.k8s.io/cri-tools/cmd/crictl@v$CRICTL_VERSION")
  step crictl "$t"
fi

# The output is read whole before it is matched: `kubectl ... | grep -q` under pipefail fails at random when
# grep exits at the first line and kubectl dies of SIGPIPE writing the next (it did, on a fresh machine).
kubectl_version=$("$BIN/kubectl" version --client 2>/dev/null || true)
[[ $kubectl_version == *"v$K8S_VERSION"* ]] || { log "kubectl is not v$K8S_VERSION: $kubectl_version"; exit 1; }
printf 'k8s v%s etcd v%s helm v%s crictl v%s built %s\n' "$K8S_VERSION" "$ETCD_VERSION" "$HELM_VERSION" \
  "$CRICTL_VERSION" "$(date -u +%FT%TZ)" >"$DIR/.complete"
log "complete in $(($(date +%s) - START)) s: $BIN"
