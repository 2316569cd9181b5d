# Go tools used as real third-party callers in tests: cnitool (libcni's reference runtime).
export GOBIN="${GOBIN:-$ROOT/.cache/gobin}"
mkdir -p "$GOBIN"
if [ ! -x "$GOBIN/cnitool" ]; then
  log "go install cnitool@v1.3.0"
  (cd /tmp && GOFLAGS=-mod=mod go install github.com/containernetworking/cni/cnitool@v1.3.0)
fi
# gRPC clients as an operator would use them against the daemon's socket: grpcurl (services by reflection,
# calls without a .proto) and grpc-health-probe (the chart's liveness and readiness probes).
if [ ! -x "$GOBIN/grpcurl" ]; then
  log "go install grpcurl@v1.9.4"
  (cd /tmp && GOFLAGS=-mod=mod go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4)
fi
# One grpc-health-probe for both: built once into the cache the chart's image takes it from
# (scripts/setup.d/60-image.sh), and linked into GOBIN for the tests.
GHP_VERSION=0.4.63
GHP_DIR=/var/cache/tidepool/image/grpc-health-probe-v$GHP_VERSION
if [ ! -x "$GHP_DIR/grpc-health-probe" ]; then
  log "go install grpc-health-probe@v$GHP_VERSION"
  mkdir -p "$GHP_DIR"
  (cd /tmp && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN=$GHP_DIR go install -trimpath -ldflags "-s -w" \
    "github.com/grpc-ecosystem/grpc-health-probe@v$GHP_VERSION")
fi
if [ "$(readlink "$GOBIN/grpc-health-probe" 2>/dev/null)" != "$GHP_DIR/grpc-health-probe" ]; then
  ln -sfn "$GHP_DIR/grpc-health-probe" "$GOBIN/grpc-health-probe"
fi
