# The real Kubernetes components the cluster lab (`tidepoolctl lab up --kubernetes`) and the Kubernetes
# tests (test/e2e/k8s-*.test.ts) run: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kubectl v1.37.2, etcd v3.6.16, helm v3.22.0 and crictl v1.37.0, built from the Go module proxy by
# scripts/k8s/build.sh into /var/cache/tidepool/k8s/v1.37.2/bin (outside the repo, keyed by version; the
# stamp .complete is written last). The first build on a 2-core machine took 11 min here idle and 59 min loaded
# (kube-apiserver pays for most of it); afterwards this step takes well under a second.
if [ ! -f /var/cache/tidepool/k8s/v1.37.2/.complete ]; then
  log "building the Kubernetes v1.37.2 binaries from the Go module proxy (first time: 11 min on an idle 2-core machine, up to an hour on a loaded one)"
  bash "$ROOT/scripts/k8s/build.sh"
fi
# The Kubernetes e2e networking checks (npm run conformance): e2e.test and agnhost of the same version, built
# by scripts/k8s/build-e2e.sh from the same wrapper module and caches (stamp .complete-e2e; 257 s here on the
# warm cache, e2e.test 235 s of it), then the agnhost image under its upstream name, built from them and
# Debian packages by images/agnhost/build.ts into /var/cache/tidepool/image/agnhost (about 60 s the first
# time, under 2 s when cached).
if [ ! -f /var/cache/tidepool/k8s/v1.37.2/.complete-e2e ]; then
  log "building e2e.test and agnhost v1.37.2 (about 4-5 min on the Kubernetes cache)"
  bash "$ROOT/scripts/k8s/build-e2e.sh"
fi
node --import tsx "$ROOT/images/agnhost/build.ts" >/dev/null
# containerd 2.4.2 from the Go module proxy (scripts/k8s/build-containerd.sh, 101 s here on the warm Go
# cache): the CRI that asks the plugin CNI STATUS (test/e2e/containerd2-status.test.ts); the other tests
# and the cluster lab run Debian's containerd 1.6.
if [ ! -f /var/cache/tidepool/k8s/containerd/v2.4.2/.complete ]; then
  log "building containerd v2.4.2 (about 2-5 min)"
  bash "$ROOT/scripts/k8s/build-containerd.sh"
fi
