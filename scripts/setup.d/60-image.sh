# The chart's image (images/tidepool/build.ts, test/e2e/k8s-image.test.ts, the Kubernetes lab): its
# readiness and liveness probes run grpc-health-probe over the daemon's Unix socket. Built from the Go module
# proxy into a cache outside the repo keyed by version (about 80 s the first time). The image's Debian
# packages are fetched here with `apt-get download` into the same cache: the tests run offline, in a
# network namespace with only loopback (scripts/isolated.sh), and build the image from the cache.
GHP_VERSION=0.4.63
GHP_DIR=/var/cache/tidepool/image/grpc-health-probe-v$GHP_VERSION
if [ ! -x "$GHP_DIR/grpc-health-probe" ]; then
  log "go install grpc-health-probe@v$GHP_VERSION"
  mkdir -p "$GHP_DIR"
  (cd /tmp && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN=$GHP_DIR go install -trimpath -ldflags "-s -w" \
    "github.com/grpc-ecosystem/grpc-health-probe@v$GHP_VERSION")
fi
log "the image's Debian packages: $(node --import tsx images/tidepool/build.ts --fetch)"
