# The chart's image (images/tidepool/build.ts, test/e2e/k8s-image.test.ts, the Kubernetes lab): its
# readiness and liveness probes run grpc-health-probe over the daemon's Unix socket. Built from the Go module
# proxy into a cache outside the repo keyed by version (about 80 s the first time). The image's Debian
# packages are fetched with `apt-get download` when the image is first built.
GHP_VERSION=0.4.63
GHP_DIR=/var/cache/tidepool/image/grpc-health-probe-v$GHP_VERSION
if [ ! -x "$GHP_DIR/grpc-health-probe" ]; then
  log "go install grpc-health-probe@v$GHP_VERSION"
  mkdir -p "$GHP_DIR"
  (cd /tmp && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN=$GHP_DIR go install -trimpath -ldflags "-s -w" \
    "github.com/grpc-ecosystem/grpc-health-probe@v$GHP_VERSION")
fi
# The cluster lab's web-server image (lab/k8s/images.ts) is Debian's busybox-static, downloaded (not
# installed) once into the same cache.
DEB_DIR=/var/cache/tidepool/image/debs
if ! ls "$DEB_DIR"/busybox-static_*.deb >/dev/null 2>&1; then
  log "apt-get download busybox-static (the cluster lab's web image)"
  mkdir -p "$DEB_DIR"
  (cd "$DEB_DIR" && apt-get download -q busybox-static)
fi
