# Go tools used as real third-party callers in tests: cnitool (libcni's reference runtime).
export GOBIN="${GOBIN:-$ROOT/.cache/gobin}"
mkdir -p "$GOBIN"
if [ ! -x "$GOBIN/cnitool" ]; then
  log "go install cnitool@v1.3.0"
  (cd /tmp && GOFLAGS=-mod=mod go install github.com/containernetworking/cni/cnitool@v1.3.0)
fi
