# The chart's image (images/tidepool/build.ts, test/e2e/k8s-image.test.ts, the Kubernetes lab): its
# readiness and liveness probes run grpc-health-probe over the daemon's Unix socket, which
# scripts/setup.d/10-go-tools.sh builds into /var/cache/tidepool/image (about 80 s the first time). The image's Debian
# packages are fetched here with `apt-get download` into the same cache: the tests run offline, in a
# network namespace with only loopback (scripts/isolated.sh), and build the image from the cache.
log "the image's Debian packages: $(node --import tsx images/tidepool/build.ts --fetch)"
