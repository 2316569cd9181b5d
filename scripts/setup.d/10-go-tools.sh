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
if [ ! -x "$GOBIN/grpc-health-probe" ]; then
  log "go install grpc-health-probe@v0.4.62"
  (cd /tmp && GOFLAGS=-mod=mod go install github.com/grpc-ecosystem/grpc-health-probe@v0.4.62)
fi
