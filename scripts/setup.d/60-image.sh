# The chart's image (images/tidepool/build.ts, test/e2e/k8s-image.test.ts, the Kubernetes lab): its
# readiness and liveness probes run grpc-health-probe over the daemon's Unix socket, which
# scripts/setup.d/10-go-tools.sh builds into /var/cache/tidepool/image (about 80 s the first time). The image's Debian
# packages are fetched here with `apt-get download` into the same cache: the tests run offline, in a
# network namespace with only loopback (scripts/isolated.sh), and build the image from the cache.
log "the image's Debian packages: $(node --import tsx images/tidepool/build.ts --fetch)"
# The cluster lab's web-server image (lab/k8s/images.ts) is Debian's busybox-static, downloaded (not
# installed) once into the same cache.
DEB_DIR=/var/cache/tidepool/image/debs
if ! ls "$DEB_DIR"/busybox-static_*.deb >/dev/null 2>&1; then
  log "apt-get download busybox-static (the cluster lab's web image)"
  mkdir -p "$DEB_DIR"
  (cd "$DEB_DIR" && apt-get download -q busybox-static)
fi
